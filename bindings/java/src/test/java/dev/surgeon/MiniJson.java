package dev.surgeon;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small JSON reader for the tests (the JDK has none): objects become Map, arrays List,
 * numbers Double, strings String (\" \\ \/ \n \t and \\uXXXX escapes), true / false Boolean,
 * null null. Malformed text throws IllegalArgumentException.
 */
final class MiniJson {
    private final String text;
    private int at;

    private MiniJson(String text) {
        this.text = text;
    }

    static Object parse(String text) {
        MiniJson p = new MiniJson(text);
        Object value = p.value();
        p.space();
        if (p.at != text.length()) throw p.error("trailing text");
        return value;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> object(String text) {
        return (Map<String, Object>) parse(text);
    }

    private IllegalArgumentException error(String what) {
        return new IllegalArgumentException(what + " at " + at + " in " + text);
    }

    private void space() {
        while (at < text.length() && Character.isWhitespace(text.charAt(at))) ++at;
    }

    private void expect(char c) {
        space();
        if (at >= text.length() || text.charAt(at) != c) throw error("expected '" + c + "'");
        ++at;
    }

    private boolean next(char c) {
        space();
        if (at < text.length() && text.charAt(at) == c) {
            ++at;
            return true;
        }
        return false;
    }

    private Object value() {
        space();
        if (at >= text.length()) throw error("unexpected end");
        char c = text.charAt(at);
        if (c == '{') return object();
        if (c == '[') return array();
        if (c == '"') return string();
        for (String word : new String[] {"true", "false", "null"}) {
            if (text.startsWith(word, at)) {
                at += word.length();
                return word.equals("null") ? null : Boolean.valueOf(word);
            }
        }
        int start = at;
        while (at < text.length() && "+-0123456789.eE".indexOf(text.charAt(at)) >= 0) ++at;
        if (start == at) throw error("unexpected '" + c + "'");
        return Double.valueOf(text.substring(start, at));
    }

    private Map<String, Object> object() {
        expect('{');
        Map<String, Object> map = new LinkedHashMap<>();
        if (next('}')) return map;
        do {
            space();
            String key = string();
            expect(':');
            map.put(key, value());
        } while (next(','));
        expect('}');
        return map;
    }

    private List<Object> array() {
        expect('[');
        List<Object> list = new ArrayList<>();
        if (next(']')) return list;
        do {
            list.add(value());
        } while (next(','));
        expect(']');
        return list;
    }

    private String string() {
        expect('"');
        StringBuilder out = new StringBuilder();
        while (at < text.length() && text.charAt(at) != '"') {
            char c = text.charAt(at++);
            if (c != '\\') {
                out.append(c);
                continue;
            }
            char e = text.charAt(at++);
            switch (e) {
                case 'n' -> out.append('\n');
                case 't' -> out.append('\t');
                case 'u' -> {
                    out.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
                    at += 4;
                }
                default -> out.append(e);
            }
        }
        expect('"');
        return out.toString();
    }
}
