#include "io/hf_tokenizer.hpp"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>
#include <utility>

#include "core/error.hpp"
#include "io/checkpoint.hpp"
#include "io/regex.hpp"

namespace surgeon::model {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---------------------------------------------------------------------------------------
// UTF-8 and Unicode character classes (ICU), as the Rust code of `tokenizers` sees them.

// Decodes the (valid) UTF-8 character at s[i]; sets `len` to its byte length.
UChar32 char_at(const std::string& s, size_t i, size_t& len) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
        len = 1;
        return c;
    }
    len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    UChar32 cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    return cp;
}

void append_utf8(std::string& out, UChar32 cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

bool is_whitespace(UChar32 c) { return u_isUWhiteSpace(c) != 0; }  // Rust char::is_whitespace

bool is_punctuation(UChar32 c) {  // is_ascii_punctuation || general category P*
    if (c < 0x80) return c > 0x20 && c < 0x7F && !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'));
    return u_ispunct(c) != 0;
}

bool is_numeric(UChar32 c) {  // Rust char::is_numeric: Nd, Nl, No
    const int8_t t = u_charType(c);
    return t == U_DECIMAL_DIGIT_NUMBER || t == U_LETTER_NUMBER || t == U_OTHER_NUMBER;
}

bool is_mark(UChar32 c) {
    const int8_t t = u_charType(c);
    return t == U_NON_SPACING_MARK || t == U_COMBINING_SPACING_MARK || t == U_ENCLOSING_MARK;
}

bool is_word_char(UChar32 c) {  // the Unicode \w of Rust's regex crate
    const int8_t t = u_charType(c);
    return u_hasBinaryProperty(c, UCHAR_ALPHABETIC) || is_mark(c) || t == U_DECIMAL_DIGIT_NUMBER ||
           t == U_CONNECTOR_PUNCTUATION || u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL);
}

UChar32 char_before(const std::string& s, size_t end) {  // end > 0
    size_t i = end - 1;
    while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
    size_t len = 0;
    return char_at(s, i, len);
}

bool ascii_only(const std::string& s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    return true;
}

std::u16string to_utf16(const std::string& s) {
    UErrorCode status = U_ZERO_ERROR;
    int32_t length = 0;
    u_strFromUTF8(nullptr, 0, &length, s.data(), static_cast<int32_t>(s.size()), &status);
    std::u16string out(static_cast<size_t>(length), u'\0');
    status = U_ZERO_ERROR;
    u_strFromUTF8(out.data(), length, nullptr, s.data(), static_cast<int32_t>(s.size()), &status);
    if (U_FAILURE(status)) fail(SURGEON_ERR_INTERNAL, "UTF-8 to UTF-16 conversion failed");
    return out;
}

std::string to_utf8(const std::u16string& s) {
    UErrorCode status = U_ZERO_ERROR;
    int32_t length = 0;
    u_strToUTF8(nullptr, 0, &length, s.data(), static_cast<int32_t>(s.size()), &status);
    std::string out(static_cast<size_t>(length), '\0');
    status = U_ZERO_ERROR;
    u_strToUTF8(out.data(), length, nullptr, s.data(), static_cast<int32_t>(s.size()), &status);
    if (U_FAILURE(status)) fail(SURGEON_ERR_INTERNAL, "UTF-16 to UTF-8 conversion failed");
    return out;
}

// ---------------------------------------------------------------------------------------
// JSON helpers.

std::string type_of(const json& j, const std::string& what) {
    if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
        fail(SURGEON_ERR_IO, what + " has no \"type\"");
    return j["type"].get<std::string>();
}

[[noreturn]] void unsupported(const std::string& what, const std::string& type) {
    fail(SURGEON_ERR_UNSUPPORTED, "UNSUPPORTED tokenizer " + what + " type '" + type + "'");
}

bool flag(const json& j, const char* key, bool fallback) {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? fallback : it->get<bool>();
}

std::string text_of(const json& j, const char* key, const std::string& fallback) {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? fallback : it->get<std::string>();
}

// The largest token id a tokenizer.json may use (16.7M; the largest vocabularies have about
// 260k): ids size tables, so a file cannot make one absurdly large.
constexpr int64_t kMaxTokenId = (int64_t{1} << 24) - 1;

// A JSON integer in [0, max] (a float, a string or an out-of-range number is SURGEON_ERR_IO
// naming `what`).
int64_t integer_of(const json& v, int64_t max, const std::string& what) {
    if (!v.is_number_integer()) fail(SURGEON_ERR_IO, what + " is not an integer");
    const bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() <= static_cast<uint64_t>(max)
                                                 : v.get<int64_t>() >= 0 && v.get<int64_t>() <= max;
    if (!in_range) fail(SURGEON_ERR_IO, what + " " + v.dump() + " is outside [0, " + std::to_string(max) + "]");
    return v.get<int64_t>();
}

int token_id_of(const json& v, const std::string& what) { return static_cast<int>(integer_of(v, kMaxTokenId, what)); }

// A token named in tokenizer_config.json: a string or {"content": ...}.
std::optional<std::string> config_token(const json& config, const char* key) {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object() && it->contains("content")) return (*it)["content"].get<std::string>();
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Patterns and split behaviours (the `Pattern` trait and NormalizedString::split).

struct Span {
    size_t begin, end;
    bool flag;  // is a match (before the behaviour) / is removed (after)
};

enum class Behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

Behavior parse_behavior(const std::string& name) {
    if (name == "Removed") return Behavior::removed;
    if (name == "Isolated") return Behavior::isolated;
    if (name == "MergedWithPrevious") return Behavior::merged_with_previous;
    if (name == "MergedWithNext") return Behavior::merged_with_next;
    if (name == "Contiguous") return Behavior::contiguous;
    unsupported("split behavior", name);
}

// Matches and the gaps between them, covering `s`.
std::vector<Span> spans_of_ranges(const std::string& s, const std::vector<std::pair<size_t, size_t>>& matches) {
    if (s.empty()) return {{0, 0, false}};
    std::vector<Span> out;
    size_t prev = 0;
    for (const auto& [b, e] : matches) {
        if (prev != b) out.push_back({prev, b, false});
        out.push_back({b, e, true});
        prev = e;
    }
    if (prev != s.size()) out.push_back({prev, s.size(), false});
    return out;
}

std::vector<Span> char_spans(const std::string& s, const std::function<bool(UChar32)>& pred) {
    if (s.empty()) return {{0, 0, false}};
    std::vector<Span> out;
    size_t last = 0;
    size_t len = 0;
    for (size_t i = 0; i < s.size(); i += len) {
        if (pred(char_at(s, i, len))) {
            if (last < i) out.push_back({last, i, false});
            out.push_back({i, i + len, true});
            last = i + len;
        }
    }
    if (last < s.size()) out.push_back({last, s.size(), false});
    return out;
}

std::vector<std::pair<size_t, size_t>> literal_matches(const std::string& s, const std::string& needle) {
    std::vector<std::pair<size_t, size_t>> out;
    if (needle.empty()) return out;
    for (size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + needle.size()))
        out.emplace_back(at, at + needle.size());
    return out;
}

// A Split / Replace pattern: a literal string or a regex.
struct Pattern {
    std::string literal;
    std::unique_ptr<Regex> regex;

    static Pattern parse(const json& j, const std::string& what) {
        Pattern p;
        if (j.contains("Regex")) p.regex = std::make_unique<Regex>(j["Regex"].get<std::string>());
        else if (j.contains("String")) p.literal = j["String"].get<std::string>();
        else fail(SURGEON_ERR_IO, what + " pattern is neither String nor Regex");
        return p;
    }
    std::vector<std::pair<size_t, size_t>> matches(const std::string& s) const {
        return regex ? regex->find_all(s) : literal_matches(s, literal);
    }
};

// Applies a split behaviour: the returned spans' flag means "removed".
std::vector<Span> apply_behavior(std::vector<Span> spans, Behavior behavior) {
    std::vector<Span> acc;
    acc.reserve(spans.size());
    switch (behavior) {
        case Behavior::isolated:
            for (auto& s : spans) acc.push_back({s.begin, s.end, false});
            return acc;
        case Behavior::removed:
            return spans;
        case Behavior::contiguous: {
            bool previous = false;
            for (const auto& s : spans) {
                if (s.flag == previous && !acc.empty()) acc.back().end = s.end;
                else acc.push_back({s.begin, s.end, false});
                previous = s.flag;
            }
            return acc;
        }
        case Behavior::merged_with_previous: {
            bool previous = false;
            for (const auto& s : spans) {
                if (s.flag && !previous && !acc.empty()) acc.back().end = s.end;
                else acc.push_back({s.begin, s.end, false});
                previous = s.flag;
            }
            return acc;
        }
        case Behavior::merged_with_next: {
            bool previous = false;
            for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
                if (it->flag && !previous && !acc.empty()) acc.back().begin = it->begin;
                else acc.push_back({it->begin, it->end, false});
                previous = it->flag;
            }
            std::reverse(acc.begin(), acc.end());
            return acc;
        }
    }
    return acc;
}

// ---------------------------------------------------------------------------------------
// The pieces of a text on its way through the pipeline.

struct Piece {
    std::string text;
    int id = -1;            // an added token's id: no further processing
    bool at_start = false;  // begins at offset 0 of the original text
};

// Replaces every unprocessed piece by the non-removed, non-empty parts `spans_of` cuts it in.
template <class SpansOf>
void split_pieces(std::vector<Piece>& pieces, Behavior behavior, SpansOf spans_of) {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 2);
    for (auto& piece : pieces) {
        if (piece.id >= 0) {
            out.push_back(std::move(piece));
            continue;
        }
        for (const Span& s : apply_behavior(spans_of(piece.text), behavior)) {
            if (s.flag || s.end == s.begin) continue;
            out.push_back({piece.text.substr(s.begin, s.end - s.begin), -1, piece.at_start && s.begin == 0});
        }
    }
    pieces = std::move(out);
}

// ---------------------------------------------------------------------------------------
// Byte-level alphabet (GPT-2's bytes_to_unicode).

struct ByteAlphabet {
    std::array<std::string, 256> encoded;      // byte -> UTF-8 of its character
    std::unordered_map<UChar32, int> decoded;  // character -> byte
    ByteAlphabet() {
        int next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            const UChar32 cp = printable ? b : next++;
            append_utf8(encoded[static_cast<size_t>(b)], cp);
            decoded[cp] = b;
        }
    }
};

const ByteAlphabet& byte_alphabet() {
    static const ByteAlphabet alphabet;
    return alphabet;
}

constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// ---------------------------------------------------------------------------------------
// Normalizers.

struct Normalizer {
    virtual ~Normalizer() = default;
    virtual void apply(std::string& s) const = 0;
};

struct SequenceNormalizer : Normalizer {
    std::vector<std::unique_ptr<Normalizer>> steps;
    void apply(std::string& s) const override {
        for (const auto& n : steps) n->apply(s);
    }
};

struct PrependNormalizer : Normalizer {
    std::string prepend;
    void apply(std::string& s) const override {
        if (!s.empty()) s.insert(0, prepend);
    }
};

struct ReplaceNormalizer : Normalizer {
    Pattern pattern;
    std::string content;
    void apply(std::string& s) const override {
        const auto matches = pattern.matches(s);
        if (matches.empty()) return;
        std::string out;
        out.reserve(s.size());
        size_t prev = 0;
        for (const auto& [b, e] : matches) {
            out.append(s, prev, b - prev);
            out += content;
            prev = e;
        }
        out.append(s, prev, std::string::npos);
        s = std::move(out);
    }
};

struct UnicodeNormalizer : Normalizer {
    const UNormalizer2* form = nullptr;
    void apply(std::string& s) const override {
        if (ascii_only(s)) return;  // every normal form leaves ASCII unchanged
        const std::u16string in = to_utf16(s);
        UErrorCode status = U_ZERO_ERROR;
        const int32_t length = unorm2_normalize(form, in.data(), static_cast<int32_t>(in.size()), nullptr, 0, &status);
        std::u16string out(static_cast<size_t>(length), u'\0');
        status = U_ZERO_ERROR;
        unorm2_normalize(form, in.data(), static_cast<int32_t>(in.size()), out.data(), length, &status);
        if (U_FAILURE(status)) fail(SURGEON_ERR_INTERNAL, "Unicode normalization failed");
        s = to_utf8(out);
    }
};

struct LowercaseNormalizer : Normalizer {
    void apply(std::string& s) const override {
        if (ascii_only(s)) {
            for (char& c : s)
                if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            return;
        }
        const std::u16string in = to_utf16(s);
        UErrorCode status = U_ZERO_ERROR;
        const int32_t length = u_strToLower(nullptr, 0, in.data(), static_cast<int32_t>(in.size()), "", &status);
        std::u16string out(static_cast<size_t>(length), u'\0');
        status = U_ZERO_ERROR;
        u_strToLower(out.data(), length, in.data(), static_cast<int32_t>(in.size()), "", &status);
        if (U_FAILURE(status)) fail(SURGEON_ERR_INTERNAL, "lowercasing failed");
        s = to_utf8(out);
    }
};

struct StripNormalizer : Normalizer {
    bool left = true, right = true;
    void apply(std::string& s) const override {
        size_t begin = 0, end = s.size(), len = 0;
        while (left && begin < end && is_whitespace(char_at(s, begin, len))) begin += len;
        while (right && end > begin) {
            size_t i = end - 1;
            while (i > begin && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
            if (!is_whitespace(char_at(s, i, len))) break;
            end = i;
        }
        s = s.substr(begin, end - begin);
    }
};

struct StripAccentsNormalizer : Normalizer {
    void apply(std::string& s) const override {
        std::string out;
        out.reserve(s.size());
        size_t len = 0;
        for (size_t i = 0; i < s.size(); i += len)
            if (!is_mark(char_at(s, i, len))) out.append(s, i, len);
        s = std::move(out);
    }
};

std::unique_ptr<Normalizer> parse_normalizer(const json& j) {
    const std::string type = type_of(j, "normalizer");
    if (type == "Sequence") {
        auto n = std::make_unique<SequenceNormalizer>();
        for (const auto& step : j.at("normalizers")) n->steps.push_back(parse_normalizer(step));
        return n;
    }
    if (type == "Prepend") {
        auto n = std::make_unique<PrependNormalizer>();
        n->prepend = j.at("prepend").get<std::string>();
        return n;
    }
    if (type == "Replace") {
        auto n = std::make_unique<ReplaceNormalizer>();
        n->pattern = Pattern::parse(j.at("pattern"), "Replace normalizer");
        n->content = j.at("content").get<std::string>();
        return n;
    }
    if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
        auto n = std::make_unique<UnicodeNormalizer>();
        UErrorCode status = U_ZERO_ERROR;
        n->form = type == "NFC"    ? unorm2_getNFCInstance(&status)
                  : type == "NFD"  ? unorm2_getNFDInstance(&status)
                  : type == "NFKC" ? unorm2_getNFKCInstance(&status)
                                   : unorm2_getNFKDInstance(&status);
        if (U_FAILURE(status) || !n->form) fail(SURGEON_ERR_INTERNAL, "ICU has no " + type + " normalizer");
        return n;
    }
    if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
    if (type == "Strip") {
        auto n = std::make_unique<StripNormalizer>();
        n->left = flag(j, "strip_left", true);
        n->right = flag(j, "strip_right", true);
        return n;
    }
    if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
    unsupported("normalizer", type);
}

// ---------------------------------------------------------------------------------------
// Pre-tokenizers.

struct PreTokenizer {
    virtual ~PreTokenizer() = default;
    virtual void apply(std::vector<Piece>& pieces) const = 0;
};

struct SequencePreTokenizer : PreTokenizer {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    void apply(std::vector<Piece>& pieces) const override {
        for (const auto& p : steps) p->apply(pieces);
    }
};

struct ByteLevelPreTokenizer : PreTokenizer {
    bool add_prefix_space = false;
    std::unique_ptr<Regex> regex;  // null when use_regex is false
    void apply(std::vector<Piece>& pieces) const override {
        split_pieces(pieces, Behavior::isolated, [&](std::string& s) {
            if (add_prefix_space && (s.empty() || s[0] != ' ')) s.insert(0, " ");
            return regex ? spans_of_ranges(s, regex->find_all(s)) : std::vector<Span>{{0, s.size(), false}};
        });
        const ByteAlphabet& alphabet = byte_alphabet();
        for (auto& piece : pieces) {
            if (piece.id >= 0) continue;
            std::string mapped;
            mapped.reserve(piece.text.size() * 2);
            for (char c : piece.text) mapped += alphabet.encoded[static_cast<unsigned char>(c)];
            piece.text = std::move(mapped);
        }
    }
};

struct SplitPreTokenizer : PreTokenizer {
    Pattern pattern;
    Behavior behavior = Behavior::isolated;
    bool invert = false;
    void apply(std::vector<Piece>& pieces) const override {
        split_pieces(pieces, behavior, [&](const std::string& s) {
            std::vector<Span> spans = spans_of_ranges(s, pattern.matches(s));
            if (invert)
                for (auto& span : spans) span.flag = !span.flag;
            return spans;
        });
    }
};

struct CharSplitPreTokenizer : PreTokenizer {
    std::function<bool(UChar32)> predicate;
    Behavior behavior = Behavior::isolated;
    void apply(std::vector<Piece>& pieces) const override {
        split_pieces(pieces, behavior, [&](const std::string& s) { return char_spans(s, predicate); });
    }
};

struct MetaspacePreTokenizer : PreTokenizer {
    std::string replacement;
    enum class Prepend { always, first, never } prepend = Prepend::always;
    bool split = true;
    void apply(std::vector<Piece>& pieces) const override {
        for (auto& piece : pieces) {
            if (piece.id >= 0) continue;
            std::string& s = piece.text;
            std::string out;
            out.reserve(s.size() + replacement.size());
            for (char c : s) {
                if (c == ' ') out += replacement;
                else out += c;
            }
            const bool starts = out.compare(0, replacement.size(), replacement) == 0;
            if (!starts && (prepend == Prepend::always || (prepend == Prepend::first && piece.at_start)))
                out.insert(0, replacement);
            s = std::move(out);
        }
        if (!split) return;
        split_pieces(pieces, Behavior::merged_with_next, [&](const std::string& s) {
            return spans_of_ranges(s, literal_matches(s, replacement));
        });
    }
};

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const json& j) {
    const std::string type = type_of(j, "pre_tokenizer");
    if (type == "Sequence") {
        auto p = std::make_unique<SequencePreTokenizer>();
        for (const auto& step : j.at("pretokenizers")) p->steps.push_back(parse_pre_tokenizer(step));
        return p;
    }
    if (type == "ByteLevel") {
        auto p = std::make_unique<ByteLevelPreTokenizer>();
        p->add_prefix_space = flag(j, "add_prefix_space", true);
        if (flag(j, "use_regex", true)) p->regex = std::make_unique<Regex>(kGpt2Pattern);
        return p;
    }
    if (type == "Split") {
        auto p = std::make_unique<SplitPreTokenizer>();
        p->pattern = Pattern::parse(j.at("pattern"), "Split pre-tokenizer");
        p->behavior = parse_behavior(j.at("behavior").get<std::string>());
        p->invert = flag(j, "invert", false);
        return p;
    }
    if (type == "Metaspace") {
        auto p = std::make_unique<MetaspacePreTokenizer>();
        p->replacement = text_of(j, "replacement", "\u2581");
        const std::string scheme = text_of(j, "prepend_scheme", flag(j, "add_prefix_space", true) ? "always" : "never");
        if (scheme == "always") p->prepend = MetaspacePreTokenizer::Prepend::always;
        else if (scheme == "first") p->prepend = MetaspacePreTokenizer::Prepend::first;
        else if (scheme == "never") p->prepend = MetaspacePreTokenizer::Prepend::never;
        else unsupported("Metaspace prepend_scheme", scheme);
        p->split = flag(j, "split", true);
        return p;
    }
    if (type == "Digits") {
        auto p = std::make_unique<CharSplitPreTokenizer>();
        p->predicate = is_numeric;
        p->behavior = flag(j, "individual_digits", false) ? Behavior::isolated : Behavior::contiguous;
        return p;
    }
    if (type == "Punctuation") {
        auto p = std::make_unique<CharSplitPreTokenizer>();
        p->predicate = is_punctuation;
        p->behavior = parse_behavior(text_of(j, "behavior", "Isolated"));
        return p;
    }
    if (type == "WhitespaceSplit") {
        auto p = std::make_unique<CharSplitPreTokenizer>();
        p->predicate = is_whitespace;
        p->behavior = Behavior::removed;
        return p;
    }
    if (type == "Whitespace") {  // \w+|[^\w\s]+ kept, the rest removed
        auto p = std::make_unique<SplitPreTokenizer>();
        p->pattern.regex = std::make_unique<Regex>(
            R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}\s]+)");
        p->behavior = Behavior::removed;
        p->invert = true;
        return p;
    }
    unsupported("pre_tokenizer", type);
}

// ---------------------------------------------------------------------------------------
// Decoders: a chain over token strings, joined at the end.

struct Decoder {
    virtual ~Decoder() = default;
    virtual std::vector<std::string> apply(std::vector<std::string> tokens) const = 0;
};

struct SequenceDecoder : Decoder {
    std::vector<std::unique_ptr<Decoder>> steps;
    std::vector<std::string> apply(std::vector<std::string> tokens) const override {
        for (const auto& d : steps) tokens = d->apply(std::move(tokens));
        return tokens;
    }
};

std::string lossy_utf8(const std::string& bytes) {  // String::from_utf8_lossy
    std::string out;
    out.reserve(bytes.size());
    size_t i = 0;
    while (i < bytes.size()) {
        const size_t bad = invalid_utf8_at(std::string_view(bytes).substr(i));
        if (bad == std::string_view::npos) {
            out.append(bytes, i, std::string::npos);
            break;
        }
        out.append(bytes, i, bad);
        i += bad;
        // The maximal prefix of a valid sequence is replaced by one U+FFFD.
        const auto c = static_cast<unsigned char>(bytes[i]);
        size_t len = 1;
        size_t need = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 1;
        for (size_t k = 1; k < need && i + k < bytes.size(); ++k) {
            const auto d = static_cast<unsigned char>(bytes[i + k]);
            unsigned char lo = 0x80, hi = 0xBF;
            if (k == 1) {
                if (c == 0xE0) lo = 0xA0;
                else if (c == 0xED) hi = 0x9F;
                else if (c == 0xF0) lo = 0x90;
                else if (c == 0xF4) hi = 0x8F;
            }
            if (d < lo || d > hi) break;
            len = k + 1;
        }
        out += "\xEF\xBF\xBD";
        i += len;
    }
    return out;
}

struct ByteLevelDecoder : Decoder {
    std::vector<std::string> apply(std::vector<std::string> tokens) const override {
        const ByteAlphabet& alphabet = byte_alphabet();
        std::string bytes;
        for (const auto& t : tokens) {
            std::string mapped;
            bool all = true;
            size_t len = 0;
            for (size_t i = 0; i < t.size() && all; i += len) {
                auto it = alphabet.decoded.find(char_at(t, i, len));
                if (it == alphabet.decoded.end()) all = false;
                else mapped += static_cast<char>(it->second);
            }
            bytes += all ? mapped : t;
        }
        return {lossy_utf8(bytes)};
    }
};

struct ReplaceDecoder : Decoder {
    ReplaceNormalizer replace;
    std::vector<std::string> apply(std::vector<std::string> tokens) const override {
        for (auto& t : tokens) replace.apply(t);
        return tokens;
    }
};

int byte_token_value(const std::string& t) {  // "<0xAB>" -> 0xAB, else -1
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    int value = 0;
    for (int i = 3; i < 5; ++i) {
        const char c = t[static_cast<size_t>(i)];
        const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        value = value * 16 + d;
    }
    return value;
}

struct ByteFallbackDecoder : Decoder {
    std::vector<std::string> apply(std::vector<std::string> tokens) const override {
        std::vector<std::string> out;
        std::string pending;
        auto flush = [&] {
            if (pending.empty()) return;
            if (invalid_utf8_at(pending) == std::string_view::npos) out.push_back(pending);
            else
                for (size_t k = 0; k < pending.size(); ++k) out.emplace_back("\xEF\xBF\xBD");
            pending.clear();
        };
        for (auto& t : tokens) {
            const int byte = byte_token_value(t);
            if (byte >= 0) {
                pending += static_cast<char>(byte);
                continue;
            }
            flush();
            out.push_back(std::move(t));
        }
        flush();
        return out;
    }
};

struct FuseDecoder : Decoder {
    std::vector<std::string> apply(std::vector<std::string> tokens) const override {
        std::string all;
        for (const auto& t : tokens) all += t;
        return {all};
    }
};

struct StripDecoder : Decoder {
    UChar32 content = ' ';
    size_t start = 0, stop = 0;
    std::vector<std::string> apply(std::vector<std::string> tokens) const override {
        for (auto& t : tokens) {
            std::vector<std::pair<size_t, UChar32>> chars;  // (byte offset, char)
            size_t len = 0;
            for (size_t i = 0; i < t.size(); i += len) chars.emplace_back(i, char_at(t, i, len));
            size_t cut_start = 0, cut_stop = chars.size();
            for (size_t i = 0; i < std::min(start, chars.size()) && chars[i].second == content; ++i) cut_start = i + 1;
            for (size_t i = 0; i < stop && i < chars.size(); ++i) {
                const size_t index = chars.size() - i - 1;
                if (chars[index].second != content) break;
                cut_stop = index;
            }
            if (cut_stop < cut_start) cut_stop = cut_start;
            const size_t b = cut_start < chars.size() ? chars[cut_start].first : t.size();
            const size_t e = cut_stop < chars.size() ? chars[cut_stop].first : t.size();
            t = t.substr(b, e - b);
        }
        return tokens;
    }
};

struct MetaspaceDecoder : Decoder {
    UChar32 replacement = 0x2581;
    bool prepend = true;
    std::vector<std::string> apply(std::vector<std::string> tokens) const override {
        for (size_t k = 0; k < tokens.size(); ++k) {
            const std::string& t = tokens[k];
            std::string out;
            size_t len = 0;
            for (size_t i = 0; i < t.size(); i += len) {
                const UChar32 c = char_at(t, i, len);
                if (c != replacement) out.append(t, i, len);
                else if (!(k == 0 && prepend)) out += ' ';
            }
            tokens[k] = std::move(out);
        }
        return tokens;
    }
};

UChar32 single_char(const std::string& s, const std::string& what) {
    size_t len = 0;
    if (s.empty() || invalid_utf8_at(s) != std::string_view::npos || (char_at(s, 0, len), len != s.size()))
        fail(SURGEON_ERR_IO, what + " must be one character, got '" + s + "'");
    return char_at(s, 0, len);
}

std::unique_ptr<Decoder> parse_decoder(const json& j) {
    const std::string type = type_of(j, "decoder");
    if (type == "Sequence") {
        auto d = std::make_unique<SequenceDecoder>();
        for (const auto& step : j.at("decoders")) d->steps.push_back(parse_decoder(step));
        return d;
    }
    if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
    if (type == "Replace") {
        auto d = std::make_unique<ReplaceDecoder>();
        d->replace.pattern = Pattern::parse(j.at("pattern"), "Replace decoder");
        d->replace.content = j.at("content").get<std::string>();
        return d;
    }
    if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
    if (type == "Fuse") return std::make_unique<FuseDecoder>();
    if (type == "Strip") {
        auto d = std::make_unique<StripDecoder>();
        d->content = single_char(j.at("content").get<std::string>(), "Strip decoder content");
        d->start = static_cast<size_t>(integer_of(j.at("start"), 1 << 20, "Strip decoder start"));
        d->stop = static_cast<size_t>(integer_of(j.at("stop"), 1 << 20, "Strip decoder stop"));
        return d;
    }
    if (type == "Metaspace") {
        auto d = std::make_unique<MetaspaceDecoder>();
        d->replacement = single_char(text_of(j, "replacement", "\u2581"), "Metaspace decoder replacement");
        const std::string scheme = text_of(j, "prepend_scheme", flag(j, "add_prefix_space", true) ? "always" : "never");
        d->prepend = scheme != "never";
        return d;
    }
    unsupported("decoder", type);
}

// ---------------------------------------------------------------------------------------
// Post-processors: what encode(text, add_special = true) puts around the tokens.

struct Template {
    std::vector<int> prefix, suffix;
};

void parse_post_processor(const json& j, Template& t) {
    const std::string type = type_of(j, "post_processor");
    if (type == "ByteLevel") return;  // changes offsets only
    if (type == "Sequence") {
        for (const auto& step : j.at("processors")) parse_post_processor(step, t);
        return;
    }
    if (type == "TemplateProcessing") {
        Template out;
        bool seen_sequence = false;
        for (const auto& item : j.at("single")) {
            if (item.contains("Sequence")) {
                if (seen_sequence) fail(SURGEON_ERR_IO, "TemplateProcessing names the sequence twice");
                seen_sequence = true;
                continue;
            }
            if (!item.contains("SpecialToken")) fail(SURGEON_ERR_IO, "TemplateProcessing item is neither Sequence nor SpecialToken");
            const std::string name = item["SpecialToken"].at("id").get<std::string>();
            const json& specials = j.at("special_tokens");
            if (!specials.contains(name)) fail(SURGEON_ERR_IO, "TemplateProcessing special token '" + name + "' is not defined");
            std::vector<int>& side = seen_sequence ? out.suffix : out.prefix;
            for (const auto& id : specials[name].at("ids"))
                side.push_back(token_id_of(id, "TemplateProcessing special token id"));
        }
        if (!seen_sequence) fail(SURGEON_ERR_IO, "TemplateProcessing has no $A sequence");
        t.prefix.insert(t.prefix.end(), out.prefix.begin(), out.prefix.end());
        t.suffix.insert(t.suffix.begin(), out.suffix.begin(), out.suffix.end());
        return;
    }
    if (type == "RobertaProcessing" || type == "BertProcessing") {
        // "cls": [token, id], "sep": [token, id]
        t.prefix.push_back(token_id_of(j.at("cls").at(1), "post-processor cls id"));
        t.suffix.push_back(token_id_of(j.at("sep").at(1), "post-processor sep id"));
        return;
    }
    unsupported("post_processor", type);
}

// ---------------------------------------------------------------------------------------
// Added tokens: matched in the raw text (normalized: false) or in each normalized piece
// (normalized: true), leftmost-longest, before pre-tokenization.

struct AddedToken {
    int id = -1;
    std::string content;
    bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

struct AddedMatcher {
    std::array<std::vector<const AddedToken*>, 256> by_first_byte;  // longest first

    void add(const AddedToken* t) { by_first_byte[static_cast<unsigned char>(t->content[0])].push_back(t); }
    void finish() {
        for (auto& list : by_first_byte)
            std::stable_sort(list.begin(), list.end(),
                             [](const AddedToken* a, const AddedToken* b) { return a->content.size() > b->content.size(); });
    }
    bool empty() const {
        for (const auto& list : by_first_byte)
            if (!list.empty()) return false;
        return true;
    }
    // The longest token starting at s[i], or null.
    const AddedToken* at(const std::string& s, size_t i) const {
        for (const AddedToken* t : by_first_byte[static_cast<unsigned char>(s[i])])
            if (s.compare(i, t->content.size(), t->content) == 0) return t;
        return nullptr;
    }
};

// AddedVocabulary::find_matches + split_with_indices: cuts `piece` around added tokens.
void split_added(const Piece& piece, const AddedMatcher& matcher, std::vector<Piece>& out) {
    const std::string& s = piece.text;
    if (s.empty()) return;
    size_t start_offset = 0;
    auto emit = [&](size_t b, size_t e, int id) {
        if (id < 0 && e == b) return;
        out.push_back({id >= 0 ? std::string() : s.substr(b, e - b), id, piece.at_start && b == 0});
    };
    for (size_t i = 0; i < s.size();) {
        const AddedToken* t = matcher.at(s, i);
        if (!t) {
            ++i;
            continue;
        }
        size_t start = i, stop = i + t->content.size();
        i = stop;  // the next search starts after this match, whatever becomes of it
        if (t->single_word) {
            const bool start_space = start == 0 || !is_word_char(char_before(s, start));
            size_t len = 0;
            const bool stop_space = stop == s.size() || !is_word_char(char_at(s, stop, len));
            if (!start_space || !stop_space) continue;
        }
        if (t->lstrip) {
            size_t b = start;
            while (b > 0) {
                size_t p = b - 1;
                while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
                size_t len = 0;
                if (!is_whitespace(char_at(s, p, len))) break;
                b = p;
            }
            start = std::max(b, start_offset);
        }
        if (t->rstrip) {
            size_t len = 0;
            while (stop < s.size() && is_whitespace(char_at(s, stop, len))) stop += len;
        }
        if (start > start_offset) emit(start_offset, start, -1);
        emit(start, stop, t->id);
        start_offset = stop;
    }
    if (start_offset < s.size()) emit(start_offset, s.size(), -1);
}

// ---------------------------------------------------------------------------------------
// The BPE model.

struct MergeRule {
    uint32_t rank;
    int new_id;
};

uint64_t pair_key(int a, int b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); }

// Open-addressing hash table from 64-bit keys (a token pair, a code point) to values: the
// BPE inner loop does several lookups per merge.
template <class Value>
class FlatMap {
public:
    void reserve(size_t n) {
        size_t cap = 16;
        while (cap < 2 * n) cap *= 2;
        keys_.assign(cap, kEmpty);
        values_.assign(cap, Value{});
        shift_ = 64 - static_cast<int>(std::log2(static_cast<double>(cap)));
        size_ = 0;
    }
    // Inserts or overwrites.
    void set(uint64_t key, const Value& value) {
        if (keys_.empty() || 2 * (size_ + 1) > keys_.size()) grow();
        size_t i = slot(key);
        while (keys_[i] != kEmpty && keys_[i] != key) i = (i + 1) & (keys_.size() - 1);
        if (keys_[i] == kEmpty) ++size_;
        keys_[i] = key;
        values_[i] = value;
    }
    const Value* find(uint64_t key) const {
        if (keys_.empty()) return nullptr;
        for (size_t i = slot(key);; i = (i + 1) & (keys_.size() - 1)) {
            if (keys_[i] == key) return &values_[i];
            if (keys_[i] == kEmpty) return nullptr;
        }
    }

private:
    static constexpr uint64_t kEmpty = ~uint64_t{0};
    size_t slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
    void grow() {
        std::vector<uint64_t> keys = std::move(keys_);
        std::vector<Value> values = std::move(values_);
        reserve(std::max<size_t>(16, keys.size()));
        for (size_t i = 0; i < keys.size(); ++i)
            if (keys[i] != kEmpty) set(keys[i], values[i]);
    }
    std::vector<uint64_t> keys_;
    std::vector<Value> values_;
    int shift_ = 60;
    size_t size_ = 0;
};

}  // namespace

struct HfTokenizer::Impl {
    std::string name;
    std::unordered_map<std::string, int> vocab;
    std::vector<std::string> id_to_token;  // model vocabulary and added tokens
    FlatMap<MergeRule> merges;           // (left id, right id) -> rank, merged id
    FlatMap<int> char_ids;               // code point -> id of the one-character entry
    int unk_id = -1;
    bool fuse_unk = false, byte_fallback = false, ignore_merges = false;
    std::string continuing_prefix, end_suffix;
    std::array<int, 256> byte_ids{};  // "<0xAB>" ids, -1 when absent

    std::vector<AddedToken> added;
    std::unordered_map<int, size_t> added_by_id;
    AddedMatcher raw_matcher, normalized_matcher;

    std::unique_ptr<Normalizer> normalizer;
    std::unique_ptr<PreTokenizer> pre_tokenizer;
    std::unique_ptr<Decoder> decoder;
    Template post;
    int bos = -1, eos = -1;

    // Results for words seen before (bounded; guarded for concurrent encode calls).
    mutable std::mutex cache_mutex;
    mutable std::unordered_map<std::string, std::vector<int>> cache;
    static constexpr size_t kCacheEntries = 1 << 16, kCachedLength = 64;
    static constexpr size_t kHeapSymbols = 4096;  // longer words merge from rank buckets
    size_t merge_count = 0;                       // one past the largest rank

    void parse_model(const nlohmann::json& model);
    void bpe(const std::string& word, std::vector<int>& out) const;
    void merge_word(const std::string& word, std::vector<int>& out) const;
    int id_of(const std::string& token) const {
        for (const auto& t : added)
            if (t.content == token) return t.id;
        auto it = vocab.find(token);
        return it == vocab.end() ? -1 : it->second;
    }
};

void HfTokenizer::Impl::merge_word(const std::string& w, std::vector<int>& out) const {
    struct Symbol {
        int c;
        int prev, next;
        uint32_t len;  // bytes of the word it covers; 0 once merged into its left neighbour
    };
    std::vector<Symbol> symbols;
    symbols.reserve(w.size());
    auto add = [&](int c, size_t len) {
        const int n = static_cast<int>(symbols.size());
        if (!symbols.empty()) symbols.back().next = n;
        symbols.push_back({c, n - 1, -1, static_cast<uint32_t>(len)});
    };
    const bool affixes = !continuing_prefix.empty() || !end_suffix.empty();
    int unk = -1;  // a pending unknown token and its byte length
    size_t unk_len = 0;
    size_t len = 0;
    std::string s;
    for (size_t i = 0; i < w.size(); i += len) {
        const UChar32 cp = char_at(w, i, len);
        int id = -1;
        if (!affixes) {
            const int* found = char_ids.find(static_cast<uint64_t>(cp));
            id = found ? *found : -1;
        } else {
            s.assign(w, i, len);
            if (i != 0) s.insert(0, continuing_prefix);
            if (i + len == w.size()) s += end_suffix;
            auto it = vocab.find(s);
            id = it == vocab.end() ? -1 : it->second;
        }
        if (id >= 0) {
            if (unk >= 0) add(unk, unk_len);
            unk = -1;
            add(id, len);
            continue;
        }
        if (!affixes) s.assign(w, i, len);
        if (byte_fallback) {
            bool all = true;
            for (char b : s) all = all && byte_ids[static_cast<unsigned char>(b)] >= 0;
            if (all) {
                for (char b : s) add(byte_ids[static_cast<unsigned char>(b)], 1);
                continue;
            }
        }
        if (unk_id >= 0) {
            if (unk >= 0 && fuse_unk) {
                unk_len += len;
            } else {
                if (unk >= 0) add(unk, unk_len);
                unk = unk_id;
                unk_len = len;
            }
        }
    }
    if (unk >= 0) add(unk, unk_len);

    // Word::merge_all of `tokenizers`: the lowest rank first, the leftmost on ties. Each
    // rank is one pair, so a queued (rank, position) is stale exactly when the pair now at
    // the position has another rank (the library's check of the merged id).
    auto merge_at = [&](size_t pos, uint32_t rank, auto&& push) {
        Symbol& cur = symbols[pos];
        if (cur.len == 0 || cur.next == -1) return;
        const auto next_pos = static_cast<size_t>(cur.next);
        const Symbol right = symbols[next_pos];
        const MergeRule* m = merges.find(pair_key(cur.c, right.c));
        if (!m || m->rank != rank) return;
        cur.c = m->new_id;
        cur.len += right.len;
        cur.next = right.next;
        symbols[next_pos].len = 0;
        if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = static_cast<int>(pos);
        if (cur.prev >= 0)
            if (const MergeRule* p = merges.find(pair_key(symbols[static_cast<size_t>(cur.prev)].c, cur.c)))
                push(static_cast<size_t>(cur.prev), p->rank);
        if (cur.next >= 0)
            if (const MergeRule* n = merges.find(pair_key(cur.c, symbols[static_cast<size_t>(cur.next)].c)))
                push(pos, n->rank);
    };
    if (symbols.size() <= kHeapSymbols) {
        // A binary heap of (rank << 32 | position).
        std::vector<uint64_t> heap;
        heap.reserve(symbols.size());
        const auto later = std::greater<uint64_t>();
        for (size_t i = 0; i + 1 < symbols.size(); ++i)
            if (const MergeRule* m = merges.find(pair_key(symbols[i].c, symbols[i + 1].c)))
                heap.push_back((static_cast<uint64_t>(m->rank) << 32) | i);
        std::make_heap(heap.begin(), heap.end(), later);
        auto push = [&](size_t pos, uint32_t rank) {
            heap.push_back((static_cast<uint64_t>(rank) << 32) | pos);
            std::push_heap(heap.begin(), heap.end(), later);
        };
        while (!heap.empty()) {
            std::pop_heap(heap.begin(), heap.end(), later);
            const uint64_t top = heap.back();
            heap.pop_back();
            merge_at(static_cast<size_t>(top & 0xFFFFFFFFu), static_cast<uint32_t>(top >> 32), push);
        }
    } else {
        // Long words (a whole text without pre-tokenizer splits): the same order from one
        // bucket of positions per rank, each sorted when its turn comes.
        std::vector<std::vector<uint32_t>> buckets(merge_count);
        size_t lowest = merge_count, current = merge_count;
        bool restart = false;  // a pair of the current or a lower rank was queued
        auto push = [&](size_t pos, uint32_t rank) {
            buckets[rank].push_back(static_cast<uint32_t>(pos));
            lowest = std::min<size_t>(lowest, rank);
            restart = restart || rank <= current;
        };
        for (size_t i = 0; i + 1 < symbols.size(); ++i)
            if (const MergeRule* m = merges.find(pair_key(symbols[i].c, symbols[i + 1].c))) push(i, m->rank);
        while (true) {
            while (lowest < merge_count && buckets[lowest].empty()) ++lowest;
            if (lowest == merge_count) break;
            current = lowest;
            std::vector<uint32_t>& bucket = buckets[current];
            std::sort(bucket.begin(), bucket.end(), std::greater<uint32_t>());  // leftmost last
            restart = false;
            while (!bucket.empty() && !restart) {
                const uint32_t pos = bucket.back();
                bucket.pop_back();
                merge_at(pos, static_cast<uint32_t>(current), push);
            }
        }
    }
    for (const Symbol& sym : symbols)
        if (sym.len != 0) out.push_back(sym.c);
}

void HfTokenizer::Impl::bpe(const std::string& word, std::vector<int>& out) const {
    if (word.empty()) return;
    if (ignore_merges) {
        auto it = vocab.find(word);
        if (it != vocab.end()) {
            out.push_back(it->second);
            return;
        }
    }
    const bool cacheable = word.size() < kCachedLength;
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_mutex);
        auto it = cache.find(word);
        if (it != cache.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t first = out.size();
    merge_word(word, out);
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_mutex);
        if (cache.size() >= kCacheEntries) cache.clear();
        cache.emplace(word, std::vector<int>(out.begin() + static_cast<std::ptrdiff_t>(first), out.end()));
    }
}

void HfTokenizer::Impl::parse_model(const json& m) {
    Impl& t = *this;
    const std::string type = m.contains("type") ? m["type"].get<std::string>() : std::string("BPE");
    if (type != "BPE") unsupported("model", type);
    if (m.contains("dropout") && !m["dropout"].is_null() && m["dropout"].get<double>() > 0)
        fail(SURGEON_ERR_UNSUPPORTED, "UNSUPPORTED tokenizer model option: BPE dropout");
    const json& entries = m.at("vocab");
    if (!entries.is_object()) fail(SURGEON_ERR_IO, "model.vocab is not an object");
    t.vocab.reserve(entries.size());
    for (auto it = entries.begin(); it != entries.end(); ++it) {
        const int id = token_id_of(it.value(), "model.vocab id of '" + it.key() + "'");
        t.vocab[it.key()] = id;
        if (static_cast<size_t>(id) >= t.id_to_token.size()) t.id_to_token.resize(static_cast<size_t>(id) + 1);
        t.id_to_token[static_cast<size_t>(id)] = it.key();
    }
    t.char_ids.reserve(256);
    for (const auto& [token, id] : t.vocab) {
        size_t len = 0;
        if (!token.empty() && invalid_utf8_at(token) == std::string_view::npos &&
            (char_at(token, 0, len), len == token.size()))
            t.char_ids.set(static_cast<uint64_t>(char_at(token, 0, len)), id);
    }
    t.continuing_prefix = text_of(m, "continuing_subword_prefix", "");
    t.end_suffix = text_of(m, "end_of_word_suffix", "");
    t.fuse_unk = flag(m, "fuse_unk", false);
    t.byte_fallback = flag(m, "byte_fallback", false);
    t.ignore_merges = flag(m, "ignore_merges", false);
    if (m.contains("unk_token") && !m["unk_token"].is_null()) {
        const std::string unk = m["unk_token"].get<std::string>();
        auto it = t.vocab.find(unk);
        if (it == t.vocab.end()) fail(SURGEON_ERR_IO, "model.unk_token '" + unk + "' is not in the vocabulary");
        t.unk_id = it->second;
    }
    for (int b = 0; b < 256; ++b) {
        char byte_name[8];
        std::snprintf(byte_name, sizeof byte_name, "<0x%02X>", b);
        auto it = t.vocab.find(byte_name);
        t.byte_ids[static_cast<size_t>(b)] = it == t.vocab.end() ? -1 : it->second;
    }
    const json& list = m.at("merges");
    t.merges.reserve(list.size());
    const size_t prefix = t.continuing_prefix.size();
    uint32_t rank = 0;
    for (const auto& merge : list) {
        std::string a, b;
        if (merge.is_string()) {
            const std::string line = merge.get<std::string>();
            const size_t space = line.find(' ');
            if (space == std::string::npos) fail(SURGEON_ERR_IO, "merge '" + line + "' is not two tokens");
            a = line.substr(0, space);
            b = line.substr(space + 1);
        } else if (merge.is_array() && merge.size() == 2) {
            a = merge[0].get<std::string>();
            b = merge[1].get<std::string>();
        } else {
            fail(SURGEON_ERR_IO, "merge " + std::to_string(rank) + " is neither \"a b\" nor [a, b]");
        }
        auto ia = t.vocab.find(a), ib = t.vocab.find(b);
        if (ia == t.vocab.end() || ib == t.vocab.end())
            fail(SURGEON_ERR_IO, "merge '" + a + " " + b + "' names a token outside the vocabulary");
        const std::string joined = a + (b.size() >= prefix ? b.substr(prefix) : b);
        auto in = t.vocab.find(joined);
        if (in == t.vocab.end()) fail(SURGEON_ERR_IO, "merge '" + a + " " + b + "' makes '" + joined + "', not in the vocabulary");
        t.merges.set(pair_key(ia->second, ib->second), {rank, in->second});  // a repeated pair: the last wins
        ++rank;
    }
    t.merge_count = rank;
}

HfTokenizer::HfTokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

HfTokenizer HfTokenizer::parse(const std::string& json_text, const std::string& config_text, const std::string& name) {
    auto t = std::make_shared<Impl>();
    t->name = name;
    try {
        const json j = json::parse(json_text);
        if (!j.is_object()) fail(SURGEON_ERR_IO, "not a JSON object");
        t->parse_model(j.at("model"));
        if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
            for (const auto& a : j["added_tokens"]) {
                AddedToken tok;
                tok.id = token_id_of(a.at("id"), "added token id");
                tok.content = a.at("content").get<std::string>();
                tok.single_word = flag(a, "single_word", false);
                tok.lstrip = flag(a, "lstrip", false);
                tok.rstrip = flag(a, "rstrip", false);
                tok.special = flag(a, "special", false);
                tok.normalized = flag(a, "normalized", !tok.special);
                if (tok.id < 0) fail(SURGEON_ERR_IO, "added token '" + tok.content + "' has a negative id");
                if (invalid_utf8_at(tok.content) != std::string_view::npos)
                    fail(SURGEON_ERR_IO, "added token " + std::to_string(tok.id) + " is not valid UTF-8");
                t->added.push_back(std::move(tok));
            }
        }
        for (size_t i = 0; i < t->added.size(); ++i) {
            const AddedToken& tok = t->added[i];
            t->added_by_id[tok.id] = i;
            if (static_cast<size_t>(tok.id) >= t->id_to_token.size()) t->id_to_token.resize(static_cast<size_t>(tok.id) + 1);
            if (!tok.content.empty()) (tok.normalized ? t->normalized_matcher : t->raw_matcher).add(&tok);
        }
        t->raw_matcher.finish();
        t->normalized_matcher.finish();
        if (j.contains("normalizer") && !j["normalizer"].is_null()) t->normalizer = parse_normalizer(j["normalizer"]);
        if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null())
            t->pre_tokenizer = parse_pre_tokenizer(j["pre_tokenizer"]);
        if (j.contains("decoder") && !j["decoder"].is_null()) t->decoder = parse_decoder(j["decoder"]);
        if (j.contains("post_processor") && !j["post_processor"].is_null()) parse_post_processor(j["post_processor"], t->post);

        // tokenizer_config.json: BOS/EOS names and the add_bos_token / add_eos_token switches.
        t->bos = t->post.prefix.size() == 1 ? t->post.prefix[0] : -1;
        t->eos = t->post.suffix.size() == 1 ? t->post.suffix[0] : -1;
        if (!config_text.empty()) {
            const json config = json::parse(config_text);
            if (!config.is_object()) fail(SURGEON_ERR_IO, "tokenizer_config.json is not a JSON object");
            auto token = [&](const char* key, int fallback) {
                const auto named = config_token(config, key);
                if (!named) return fallback;
                const int id = t->id_of(*named);
                if (id < 0) fail(SURGEON_ERR_IO, std::string("tokenizer_config.json ") + key + " '" + *named + "' is not a token");
                return id;
            };
            t->bos = token("bos_token", t->bos);
            t->eos = token("eos_token", t->eos);
            auto sw = [&](const char* key, int id, std::vector<int>& side) {
                if (!config.contains(key) || config[key].is_null()) return;
                side.clear();
                if (!config[key].get<bool>()) return;
                if (id < 0) fail(SURGEON_ERR_IO, std::string("tokenizer_config.json sets ") + key + " but names no such token");
                side.push_back(id);
            };
            sw("add_bos_token", t->bos, t->post.prefix);
            sw("add_eos_token", t->eos, t->post.suffix);
        }
        for (const auto& [id, index] : t->added_by_id) t->id_to_token[static_cast<size_t>(id)] = t->added[index].content;
    } catch (const json::exception& e) {
        fail(SURGEON_ERR_IO, "tokenizer '" + name + "' is malformed: " + e.what());
    } catch (const Error& e) {
        fail(e.status(), "tokenizer '" + name + "': " + e.what());
    }
    for (int id : t->post.prefix)
        require(id >= 0 && static_cast<size_t>(id) < t->id_to_token.size(), SURGEON_ERR_IO,
                "tokenizer '" + name + "': post_processor id " + std::to_string(id) + " outside the vocabulary");
    for (int id : t->post.suffix)
        require(id >= 0 && static_cast<size_t>(id) < t->id_to_token.size(), SURGEON_ERR_IO,
                "tokenizer '" + name + "': post_processor id " + std::to_string(id) + " outside the vocabulary");
    return HfTokenizer(std::move(t));
}

HfTokenizer HfTokenizer::load(const std::string& json_path, const std::string& config_path) {
    return parse(read_text_file(json_path), config_path.empty() ? std::string() : read_text_file(config_path), json_path);
}

std::vector<int> HfTokenizer::encode(const std::string& text, bool add_special) const {
    const Impl& t = *impl_;
    const size_t bad = invalid_utf8_at(text);
    if (bad != std::string_view::npos)
        fail(SURGEON_ERR_INVALID_ARGUMENT, "text is not valid UTF-8 (byte " + std::to_string(bad) + ")");
    require_arg(text.size() < (size_t{1} << 31), "text of " + std::to_string(text.size()) + " bytes: at most 2 GiB is encoded at once");

    // Added tokens in the raw text, then normalization and added tokens in each piece.
    std::vector<Piece> pieces;
    split_added({text, -1, true}, t.raw_matcher, pieces);
    if (t.normalizer || !t.normalized_matcher.empty()) {
        std::vector<Piece> normalized;
        normalized.reserve(pieces.size());
        for (auto& piece : pieces) {
            if (piece.id >= 0) {
                normalized.push_back(std::move(piece));
                continue;
            }
            if (t.normalizer) t.normalizer->apply(piece.text);
            split_added(piece, t.normalized_matcher, normalized);
        }
        pieces = std::move(normalized);
    }
    if (t.pre_tokenizer) t.pre_tokenizer->apply(pieces);

    std::vector<int> ids;
    ids.reserve(text.size() / 3 + 4);
    if (add_special) ids.insert(ids.end(), t.post.prefix.begin(), t.post.prefix.end());
    for (const Piece& piece : pieces) {
        if (piece.id >= 0) ids.push_back(piece.id);
        else t.bpe(piece.text, ids);
    }
    if (add_special) ids.insert(ids.end(), t.post.suffix.begin(), t.post.suffix.end());
    return ids;
}

std::string HfTokenizer::decode(const std::vector<int>& ids) const {
    const Impl& t = *impl_;
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int id : ids) {
        require_arg(id >= 0 && static_cast<size_t>(id) < t.id_to_token.size() &&
                        (t.added_by_id.count(id) || !t.id_to_token[static_cast<size_t>(id)].empty()),
                    "token " + std::to_string(id) + " outside the vocabulary");
        tokens.push_back(t.id_to_token[static_cast<size_t>(id)]);
    }
    if (!t.decoder) {
        std::string joined;
        for (size_t i = 0; i < tokens.size(); ++i) joined += (i ? " " : "") + tokens[i];
        return joined;
    }
    std::string text;
    for (const auto& s : t.decoder->apply(std::move(tokens))) text += s;
    return text;
}

int HfTokenizer::bos_id() const { return impl_->bos; }
int HfTokenizer::eos_id() const { return impl_->eos; }
int64_t HfTokenizer::vocab_size() const { return static_cast<int64_t>(impl_->id_to_token.size()); }
int HfTokenizer::token_id(const std::string& token) const { return impl_->id_of(token); }

std::unique_ptr<TextTokenizer> open_tokenizer(const std::string& path, int64_t vocab_size) {
    std::error_code ec;
    const bool is_json = fs::path(path).extension() == ".json";
    if (!is_json) return std::make_unique<Tokenizer>(Tokenizer::load(path, vocab_size));
    const fs::path config = fs::path(path).parent_path() / "tokenizer_config.json";
    auto tok = std::make_unique<HfTokenizer>(
        HfTokenizer::load(path, fs::is_regular_file(config, ec) ? config.string() : std::string()));
    if (vocab_size > 0 && tok->vocab_size() > vocab_size)
        fail(SURGEON_ERR_IO, "tokenizer '" + path + "' has ids up to " + std::to_string(tok->vocab_size() - 1) +
                                 ", beyond the model's vocabulary of " + std::to_string(vocab_size));
    return tok;
}

std::string find_model_tokenizer(const std::string& model_path, int64_t vocab_size) {
    std::error_code ec;
    const fs::path model(model_path);
    const fs::path folder = fs::is_directory(model, ec) ? model : model.parent_path();
    const fs::path json_file = folder / "tokenizer.json";
    if (fs::is_regular_file(json_file, ec)) return json_file.string();
    return find_tokenizer_beside(model_path, vocab_size);
}

}  // namespace surgeon::model
