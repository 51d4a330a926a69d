package dev.surgeon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Status names exactly the codes of the header's surgeon_status enum, and no other. */
class StatusTest {
    /** NAME -> value of every enumerator of `typedef enum surgeon_status { ... }` in surgeon.h. */
    private static Map<String, Integer> headerStatuses() throws IOException {
        Path header = Path.of(System.getProperty("surgeon.include", "include"), "surgeon", "surgeon.h");
        String text = Files.readString(header).replaceAll("(?s)/\\*.*?\\*/", "");
        Matcher body = Pattern.compile("typedef\\s+enum\\s+surgeon_status\\s*\\{([^}]*)\\}").matcher(text);
        assertTrue(body.find(), "no surgeon_status enum in " + header);
        Map<String, Integer> out = new LinkedHashMap<>();
        Matcher e = Pattern.compile("(SURGEON_\\w+)\\s*=\\s*(\\d+)").matcher(body.group(1));
        while (e.find()) out.put(e.group(1), Integer.parseInt(e.group(2)));
        assertEquals(body.group(1).split(",").length, out.size(), "every enumerator has an explicit value");
        return out;
    }

    @Test
    void statusHasExactlyTheHeadersNamesAndValues() throws IOException {
        Map<String, Integer> header = headerStatuses();
        Map<String, Integer> binding = new LinkedHashMap<>();
        for (Status s : Status.values()) {
            binding.put((s.code() == 0 ? "SURGEON_" : "SURGEON_ERR_") + s.name(), s.code());
            assertTrue(s.isKnown());
            assertSame(s, Status.of(s.code()));
            assertEquals(s.name(), s.toString());
        }
        assertEquals(header, binding);
        for (Map.Entry<String, Integer> c : header.entrySet()) {
            assertEquals(c.getKey(), Status.of(c.getValue()).cName(), "surgeon_status_string");
        }
    }

    @Test
    void anUnknownCodeIsUnknownAndKeepsTheCode() {
        int code = Status.values().stream().mapToInt(Status::code).max().orElseThrow() + 35;
        Status s = Status.of(code);
        assertFalse(s.isKnown());
        assertEquals(code, s.code());
        assertEquals("UNKNOWN", s.name());
        assertEquals("UNKNOWN(" + code + ")", s.toString());
        assertEquals(Status.of(code), s);
        assertNotEquals(Status.INTERNAL, s);
        SurgeonException e = new SurgeonException(code, "surgeon_x: from a newer library".getBytes());
        assertEquals(s, e.status());
        assertEquals(code, e.status().code());
    }
}
