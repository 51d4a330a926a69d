#include "io/tokenizer.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <queue>

#include "core/error.hpp"
#include "core/output_file.hpp"

namespace surgeon::model {

std::string read_text_file(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        fail(SURGEON_ERR_IO, "'" + path + "' is a directory, not a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(SURGEON_ERR_IO, "cannot open '" + path + "'");
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) fail(SURGEON_ERR_IO, "cannot read '" + path + "'");
    return bytes;
}

namespace {

// The byte a "<0xXX>" piece stands for, or -1.
int byte_of_piece(const std::string& p) {
    if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return -1;
    int value = 0;
    for (int i = 3; i < 5; ++i) {
        const char c = p[static_cast<size_t>(i)];
        const int digit = c >= '0' && c <= '9' ? c - '0'
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                 : -1;
        if (digit < 0) return -1;
        value = value * 16 + digit;
    }
    return value;
}

// run.c only merges pairs scoring above its initial best of -1e10.
constexpr float kNoMerge = -1e10f;

}  // namespace

Tokenizer::Tokenizer(std::vector<std::string> pieces, std::vector<float> scores)
    : pieces_(std::move(pieces)), scores_(std::move(scores)) {
    require_arg(pieces_.size() == scores_.size(), "tokenizer: pieces and scores differ in count");
    require_arg(pieces_.size() <= static_cast<size_t>(INT32_MAX), "tokenizer: vocabulary too large");
    ids_.reserve(pieces_.size());
    for (size_t i = 0; i < pieces_.size(); ++i)
        ids_.emplace(pieces_[i], static_cast<int>(i));  // the first of duplicate pieces wins
    has_byte_tokens_ = pieces_.size() >= kFirstByteToken + 256;
    for (int b = 0; b < 256 && has_byte_tokens_; ++b)
        has_byte_tokens_ = byte_of_piece(pieces_[static_cast<size_t>(kFirstByteToken + b)]) == b;
}

Tokenizer Tokenizer::load(const std::string& path, int64_t vocab_size) {
    const std::string bytes = read_text_file(path);
    size_t at = 0;
    auto take = [&](void* dst, size_t n, const char* what) {
        if (bytes.size() - at < n)
            fail(SURGEON_ERR_IO, "tokenizer '" + path + "' is truncated in " + what);
        std::memcpy(dst, bytes.data() + at, n);
        at += n;
    };
    int32_t max_len = 0;
    take(&max_len, 4, "its header");
    if (max_len < 1 || max_len > (1 << 16))
        fail(SURGEON_ERR_IO, "'" + path + "' is not a llama2.c tokenizer (max token length " +
                                 std::to_string(max_len) + ")");
    std::vector<std::string> pieces;
    std::vector<float> scores;
    while (at < bytes.size() && (vocab_size <= 0 || static_cast<int64_t>(pieces.size()) < vocab_size)) {
        const std::string what = "entry " + std::to_string(pieces.size());
        float score = 0;
        int32_t len = 0;
        take(&score, 4, what.c_str());
        take(&len, 4, what.c_str());
        if (!std::isfinite(score) || len < 0 || len > max_len)
            fail(SURGEON_ERR_IO, "tokenizer '" + path + "' has a corrupt " + what);
        std::string piece(static_cast<size_t>(len), '\0');
        take(piece.data(), piece.size(), what.c_str());
        pieces.push_back(std::move(piece));
        scores.push_back(score);
    }
    if (pieces.empty()) fail(SURGEON_ERR_IO, "tokenizer '" + path + "' has no entries");
    if (vocab_size > 0 && (static_cast<int64_t>(pieces.size()) != vocab_size || at != bytes.size()))
        fail(SURGEON_ERR_IO, "tokenizer '" + path + "' does not hold exactly " +
                                 std::to_string(vocab_size) + " entries (the model's vocabulary)");
    return Tokenizer(std::move(pieces), std::move(scores));
}

int Tokenizer::lookup(const std::string& piece) const {
    auto it = ids_.find(piece);
    return it == ids_.end() ? -1 : it->second;
}

std::vector<int> Tokenizer::encode(const std::string& raw, bool bos, bool eos) const {
    // Initial tokens: the dummy prefix " " on its own (never grouped with following
    // continuation bytes), then one per UTF-8 character (at most 4 bytes, as run.c groups
    // them) or per byte when the character is not in the vocabulary.
    const std::string& text = raw;
    std::vector<int> ids;
    ids.reserve(text.size() + 1);
    if (!text.empty()) {
        const int space = lookup(" ");
        ids.push_back(space >= 0 ? space : has_byte_tokens_ ? ' ' + kFirstByteToken : kUnk);
    }
    for (size_t i = 0; i < text.size();) {
        size_t len = 1;
        while (len < 4 && i + len < text.size() &&
               (static_cast<unsigned char>(text[i + len]) & 0xC0) == 0x80)
            ++len;
        const int id = lookup(text.substr(i, len));
        if (id >= 0) {
            ids.push_back(id);
        } else {
            for (size_t k = i; k < i + len; ++k)
                ids.push_back(has_byte_tokens_ ? static_cast<unsigned char>(text[k]) + kFirstByteToken
                                               : kUnk);
        }
        i += len;
    }

    // Greedy merging. run.c rescans all pairs after every merge (quadratic); a max-heap of
    // candidate pairs ordered by (score, leftmost) makes the same choices in n log n. Nodes
    // keep their initial index, so list order is index order; a version bump marks the
    // heap entries of a changed node stale.
    const int n = static_cast<int>(ids.size());
    std::vector<int> next(static_cast<size_t>(n)), prev(static_cast<size_t>(n));
    std::vector<uint32_t> version(static_cast<size_t>(n), 0);
    for (int i = 0; i < n; ++i) {
        next[static_cast<size_t>(i)] = i + 1 < n ? i + 1 : -1;
        prev[static_cast<size_t>(i)] = i - 1;
    }
    struct Candidate {
        float score;
        int left, right, merged;
        uint32_t left_version, right_version;
        bool operator<(const Candidate& o) const {  // "lower priority than"
            return score < o.score || (score == o.score && left > o.left);
        }
    };
    std::priority_queue<Candidate> heap;
    auto consider = [&](int l, int r) {
        if (l < 0 || r < 0) return;
        const int merged = lookup(pieces_[static_cast<size_t>(ids[static_cast<size_t>(l)])] +
                                  pieces_[static_cast<size_t>(ids[static_cast<size_t>(r)])]);
        if (merged < 0 || !(scores_[static_cast<size_t>(merged)] > kNoMerge)) return;
        heap.push({scores_[static_cast<size_t>(merged)], l, r, merged,
                   version[static_cast<size_t>(l)], version[static_cast<size_t>(r)]});
    };
    for (int i = 0; i + 1 < n; ++i) consider(i, i + 1);
    while (!heap.empty()) {
        const Candidate c = heap.top();
        heap.pop();
        const auto l = static_cast<size_t>(c.left), r = static_cast<size_t>(c.right);
        if (version[l] != c.left_version || version[r] != c.right_version) continue;
        ids[l] = c.merged;
        ++version[l];
        ++version[r];  // r leaves the list
        next[l] = next[r];
        if (next[r] >= 0) prev[static_cast<size_t>(next[r])] = c.left;
        consider(prev[l], c.left);
        consider(c.left, next[l]);
    }

    std::vector<int> out;
    out.reserve(static_cast<size_t>(n) + 2);
    if (bos) out.push_back(kBos);
    for (int i = n > 0 ? 0 : -1; i >= 0; i = next[static_cast<size_t>(i)])
        out.push_back(ids[static_cast<size_t>(i)]);
    if (eos) out.push_back(kEos);
    return out;
}

std::string Tokenizer::decode(int prev, int token) const {
    require_arg(token >= 0 && token < vocab_size(),
                "token " + std::to_string(token) + " outside the vocabulary");
    const std::string& p = pieces_[static_cast<size_t>(token)];
    const int byte = has_byte_tokens_ ? byte_of_piece(p) : -1;
    if (byte >= 0) return std::string(1, static_cast<char>(byte));
    if (prev == kBos && !p.empty() && p[0] == ' ') return p.substr(1);
    return p;
}

std::string Tokenizer::decode(const std::vector<int>& tokens) const {
    std::string text;
    int prev = -1;
    for (int t : tokens) {
        if (t != kBos && t != kEos) text += decode(prev, t);
        prev = t;
    }
    return text;
}

std::vector<int> read_token_file(const std::string& path, int64_t vocab_size) {
    const std::string bytes = read_text_file(path);
    if (bytes.empty()) fail(SURGEON_ERR_IO, "token file '" + path + "' is empty");
    if (bytes.size() % 4 != 0)
        fail(SURGEON_ERR_IO, "token file '" + path + "' has " + std::to_string(bytes.size()) +
                                 " bytes, not a whole number of int32 ids");
    std::vector<int> tokens(bytes.size() / 4);
    static_assert(sizeof(int) == 4 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
                  "token files are little-endian int32");
    std::memcpy(tokens.data(), bytes.data(), bytes.size());
    for (size_t i = 0; i < tokens.size(); ++i)
        if (tokens[i] < 0 || (vocab_size > 0 && tokens[i] >= vocab_size))
            fail(SURGEON_ERR_IO, "token file '" + path + "' holds id " + std::to_string(tokens[i]) +
                                     " at position " + std::to_string(i) + ", outside [0, " +
                                     std::to_string(vocab_size) + ")");
    return tokens;
}

void write_token_file(const std::vector<int>& tokens, const std::string& path) {
    write_file_atomically(path, tokens.data(), tokens.size() * sizeof(int));
}

std::vector<std::vector<int>> paragraph_sequences(const TextTokenizer& tokenizer, const std::string& text,
                                                  Range range, int64_t seq_len) {
    require_arg(seq_len >= 2, "sequence length must be at least 2");
    const std::vector<std::string> paragraphs = split_paragraphs(text);
    const Range r = resolve_range(range, static_cast<int64_t>(paragraphs.size()), "paragraphs", "the text");
    std::vector<std::vector<int>> out(static_cast<size_t>(r.end - r.begin));
    for (int64_t i = r.begin; i < r.end; ++i) {
        std::vector<int> tokens = tokenizer.encode(paragraphs[static_cast<size_t>(i)], true);
        if (static_cast<int64_t>(tokens.size()) > seq_len) tokens.resize(static_cast<size_t>(seq_len));
        out[static_cast<size_t>(i - r.begin)] = std::move(tokens);
    }
    return out;
}

}  // namespace surgeon::model
