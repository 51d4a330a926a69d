#include "io/regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.hpp"

namespace surgeon::model {

struct Regex::Code {
    pcre2_code* code = nullptr;
    bool jit = false;
    ~Code() { pcre2_code_free(code); }
};

namespace {

std::string pcre2_message(int code) {
    PCRE2_UCHAR buffer[256];
    if (pcre2_get_error_message(code, buffer, sizeof buffer) < 0) return "PCRE2 error " + std::to_string(code);
    return reinterpret_cast<const char*>(buffer);
}

// One JIT stack per thread, grown up to 8 MiB (long whitespace runs under \s+(?!\S)).
struct JitStack {
    pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    pcre2_match_context* context = pcre2_match_context_create(nullptr);
    JitStack() {
        if (!stack || !context) fail(SURGEON_ERR_OUT_OF_MEMORY, "cannot allocate a regex match stack");
        pcre2_jit_stack_assign(context, nullptr, stack);
    }
    ~JitStack() {
        pcre2_match_context_free(context);
        pcre2_jit_stack_free(stack);
    }
};

pcre2_match_context* thread_match_context() {
    thread_local JitStack jit;
    return jit.context;
}

size_t utf8_length(unsigned char lead) {
    return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

}  // namespace

std::string onig_compatible_pattern(const std::string& pattern) {
    std::string out;
    out.reserve(pattern.size() + 16);
    int class_depth = 0;
    for (size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size()) {
            const char e = pattern[++i];
            if (e == 's') out += class_depth > 0 ? "\\s\\x{85}" : "[\\s\\x{85}]";
            else if (e == 'S' && class_depth == 0) out += "[^\\s\\x{85}]";
            else {
                out += c;
                out += e;
            }
            continue;
        }
        if (c == '[') {
            if (class_depth > 0 && pattern.compare(i, 2, "[:") == 0) {  // a POSIX class [:name:]
                const size_t end = pattern.find(":]", i + 2);
                if (end != std::string::npos) {
                    out.append(pattern, i, end + 2 - i);
                    i = end + 1;
                    continue;
                }
            }
            ++class_depth;
            out += c;
            // A ']' right after '[' or '[^' is a literal member.
            if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
            if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
            continue;
        }
        if (c == ']' && class_depth > 0) --class_depth;
        out += c;
    }
    return out;
}

size_t invalid_utf8_at(std::string_view text) {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    for (size_t i = 0; i < n;) {
        const unsigned char c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len = 0;
        uint32_t cp = 0, min = 0;
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07, min = 0x10000;
        else return i;
        if (n - i < len) return i;
        for (size_t k = 1; k < len; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += len;
    }
    return std::string_view::npos;
}

Regex::Regex(const std::string& pattern) : pattern_(pattern), code_(std::make_unique<Code>()) {
    const std::string translated = onig_compatible_pattern(pattern);
    int error = 0;
    PCRE2_SIZE offset = 0;
    code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
    if (!code_->code)
        fail(SURGEON_ERR_INVALID_ARGUMENT, "regex '" + pattern + "' does not compile: " + pcre2_message(error) +
                                               " at offset " + std::to_string(offset));
    code_->jit = pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
    std::vector<std::pair<size_t, size_t>> out;
    pcre2_match_data* data = pcre2_match_data_create_from_pattern(code_->code, nullptr);
    if (!data) fail(SURGEON_ERR_OUT_OF_MEMORY, "cannot allocate regex match data");
    pcre2_match_context* context = thread_match_context();
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t from = 0;
    bool have_last = false;
    size_t last_end = 0;
    while (from <= text.size()) {
        const int rc = code_->jit ? pcre2_jit_match(code_->code, subject, text.size(), from, PCRE2_NO_UTF_CHECK, data, context)
                                  : pcre2_match(code_->code, subject, text.size(), from, PCRE2_NO_UTF_CHECK, data, context);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            pcre2_match_data_free(data);
            fail(SURGEON_ERR_INVALID_ARGUMENT, "regex '" + pattern_ + "' failed: " + pcre2_message(rc));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data);
        const size_t begin = ov[0], end = ov[1];
        if (begin == end && have_last && last_end == end) {
            // An empty match right after the previous match: step over one character.
            if (from >= text.size()) break;
            from += utf8_length(static_cast<unsigned char>(text[from]));
            continue;
        }
        out.emplace_back(begin, end);
        have_last = true;
        last_end = end;
        from = end;
    }
    pcre2_match_data_free(data);
    return out;
}

}  // namespace surgeon::model
