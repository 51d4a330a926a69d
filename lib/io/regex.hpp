// A compiled regular expression for tokenizer pre-tokenizers and normalizers: PCRE2 in UTF
// mode with Unicode properties (\p{L}, \p{N}, ...), possessive quantifiers and lookahead,
// JIT-compiled. Matching follows the Oniguruma engine that Hugging Face `tokenizers` uses:
// \s and \S include U+0085 (the Unicode White_Space set), and iteration over matches skips
// an empty match that touches the end of the previous one.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace surgeon::model {

class Regex {
public:
    // Throws SURGEON_ERR_INVALID_ARGUMENT naming the pattern and PCRE2's message when the
    // pattern does not compile.
    explicit Regex(const std::string& pattern);
    ~Regex();
    Regex(Regex&&) noexcept;
    Regex& operator=(Regex&&) noexcept;
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // Byte ranges [first, second) of the successive non-overlapping matches in `text`, which
    // must be valid UTF-8 (the caller checks it once).
    std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

    const std::string& pattern() const { return pattern_; }

private:
    struct Code;
    std::string pattern_;
    std::unique_ptr<Code> code_;
};

// The pattern with \s and \S widened to Oniguruma's Unicode White_Space set (PCRE2's \s
// lacks U+0085). Exposed for tests.
std::string onig_compatible_pattern(const std::string& pattern);

// Byte offset of the first invalid UTF-8 sequence in `text`, or npos when it is valid.
size_t invalid_utf8_at(std::string_view text);

}  // namespace surgeon::model
