#include <gtest/gtest.h>

#include <cstring>

#include <unistd.h>

#include "core/error.hpp"
#include "nn/perplexity.hpp"
#include "io/tokenizer.hpp"
#include "llama2c_data.hpp"

using namespace surgeon;
using namespace surgeon::model;

namespace {

// run.c's encoder, transcribed literally: per-character lookup with byte fallback, then
// rescan every adjacent pair after each merge (quadratic; the library uses a heap).
std::vector<int> reference_encode(const Tokenizer& tok, const std::string& text, bool bos) {
    std::vector<int> ids;
    if (bos) ids.push_back(1);
    if (!text.empty()) ids.push_back(tok.lookup(" "));
    std::string buffer;
    for (size_t i = 0; i < text.size(); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) buffer.clear();
        buffer += text[i];
        if (i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80 &&
            buffer.size() < 4)
            continue;
        const int id = tok.lookup(buffer);
        if (id >= 0) {
            ids.push_back(id);
        } else {
            for (char c : buffer) ids.push_back(static_cast<unsigned char>(c) + 3);
        }
        buffer.clear();
    }
    const size_t first = bos ? 1 : 0;
    while (true) {
        float best_score = -1e10f;
        int best_id = -1;
        size_t best_at = 0;
        for (size_t i = first; i + 1 < ids.size(); ++i) {
            const int id = tok.lookup(tok.piece(ids[i]) + tok.piece(ids[i + 1]));
            if (id >= 0 && tok.score(id) > best_score) {
                best_score = tok.score(id);
                best_id = id;
                best_at = i;
            }
        }
        if (best_id < 0) break;
        ids[best_at] = best_id;
        ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(best_at) + 1);
    }
    return ids;
}

Tokenizer load_or_skip(bool& skip) {
    const std::string path = surgeon_test::tokenizer_file();
    skip = path.empty();
    return skip ? Tokenizer({"<unk>"}, {0.0f}) : Tokenizer::load(path, 512);
}

// The paragraphs of the bundled TinyStories sample; sets `skip` when it is not found.
std::vector<std::string> stories_paragraphs(bool& skip) {
    const std::string text_path = surgeon_test::stories_file();
    if (text_path.empty()) skip = true;
    return skip ? std::vector<std::string>{} : split_paragraphs(surgeon_test::read_text(text_path));
}

std::string temp_path(const std::string& name) {
    return ::testing::TempDir() + "surgeon_tok_" + std::to_string(::getpid()) + "_" + name;
}

}  // namespace

TEST(Tokenizer, LoadsTok512) {
    bool skip = false;
    const Tokenizer tok = load_or_skip(skip);
    if (skip) GTEST_SKIP() << "tok512.bin not found";
    EXPECT_EQ(tok.vocab_size(), 512);
    EXPECT_EQ(tok.piece(0), "<unk>");
    EXPECT_EQ(tok.piece(1), "\n<s>\n");
    EXPECT_EQ(tok.piece(2), "\n</s>\n");
    EXPECT_EQ(tok.piece(3), "<0x00>");
    EXPECT_EQ(tok.piece(13), "<0x0A>");
    EXPECT_EQ(tok.piece(258), "<0xFF>");
    // Reading without a size takes every entry; a wrong expected size is refused.
    EXPECT_EQ(Tokenizer::load(surgeon_test::tokenizer_file()).vocab_size(), 512);
    EXPECT_THROW(Tokenizer::load(surgeon_test::tokenizer_file(), 32000), Error);
}

TEST(Tokenizer, FirstParagraphMatchesSources) {
    bool skip = false;
    const Tokenizer tok = load_or_skip(skip);
    const std::vector<std::string> paragraphs = stories_paragraphs(skip);
    if (skip) GTEST_SKIP() << "tokenizer or text not found";
    ASSERT_EQ(paragraphs.size(), 4300u);
    const std::vector<int> expected = {1,   301, 427, 309, 426, 301, 427, 309, 394, 265,
                                       262, 415, 271, 422, 280, 295, 269, 336, 432, 313};
    const std::vector<int> got = tok.encode(paragraphs[0], true);
    ASSERT_GE(got.size(), expected.size());
    EXPECT_EQ(std::vector<int>(got.begin(), got.begin() + 20), expected);
}

TEST(Tokenizer, HeapMergeEqualsRunCOnEveryParagraph) {
    bool skip = false;
    const Tokenizer tok = load_or_skip(skip);
    const std::vector<std::string> paragraphs = stories_paragraphs(skip);
    if (skip) GTEST_SKIP() << "tokenizer or text not found";
    int64_t byte_tokens = 0;
    for (size_t i = 0; i < paragraphs.size(); i += 3) {  // every third keeps the test quick
        const std::vector<int> got = tok.encode(paragraphs[i], true);
        ASSERT_EQ(got, reference_encode(tok, paragraphs[i], true)) << "paragraph " << i;
        for (int t : got) byte_tokens += t >= 3 && t < 259;
        // Decoding gives the text back byte for byte (byte fallback included).
        ASSERT_EQ(tok.decode(got), paragraphs[i]) << "paragraph " << i;
    }
    EXPECT_GT(byte_tokens, 0);  // the byte fallback was exercised (80 tokens in this sample)
}

TEST(Tokenizer, EdgeCases) {
    bool skip = false;
    const Tokenizer tok = load_or_skip(skip);
    if (skip) GTEST_SKIP() << "tok512.bin not found";
    EXPECT_EQ(tok.encode("", false), std::vector<int>{});
    EXPECT_EQ(tok.encode("", true, true), (std::vector<int>{1, 2}));
    const std::vector<std::string> samples = {
        "\n", "a\n\nb", "\xE2\x80\x9CHi\xE2\x80\x9D", "\xFF\xFE", "\x80\x80\x80\x80\x80",
        "caf\xC3\xA9 \xF0\x9F\x98\x80!", "  two  spaces  ", std::string("nul\0byte", 8)};
    for (const std::string& s : samples) {
        const std::vector<int> ids = tok.encode(s, true, true);
        EXPECT_EQ(ids, [&] {
            auto r = reference_encode(tok, s, true);
            r.push_back(2);
            return r;
        }()) << s;
        EXPECT_EQ(tok.decode(ids), s);
    }
    EXPECT_EQ(tok.encode("\n", false), (std::vector<int>{tok.lookup(" "), 13}));
    // decode(prev, token) drops the dummy-prefix space only right after BOS.
    const int once = tok.encode("Once", false).back();
    ASSERT_EQ(tok.piece(once)[0], ' ');
    EXPECT_EQ(tok.decode(1, once), tok.piece(once).substr(1));
    EXPECT_EQ(tok.decode(5, once), tok.piece(once));
    EXPECT_EQ(tok.decode(1, 13), "\n");
    EXPECT_THROW(tok.decode(1, 512), Error);
}

TEST(Tokenizer, TinyVocabularyMerges) {
    // Scores decide the merge order; ties go to the leftmost pair.
    const Tokenizer tok({"<unk>", "a", "b", " ", "ab", "ba", " a", "aba"}, {0, 0, 0, 0, 5, 5, 1, 9});
    // " abab" -> [" ", a, b, a, b]: ab, ba, ab tie at 5, the leftmost ab wins ->
    // [" ", ab, a, b]; then aba(9) -> [" ", aba, b]; " aba" and "abab" are absent: done.
    EXPECT_EQ(tok.encode("abab", false), (std::vector<int>{3, 7, 2}));
    // " aba": " a"(1) vs ab(5) vs ba(5) -> ab first: [" ", ab, a] -> aba(9): [" ", aba].
    EXPECT_EQ(tok.encode("aba", false), (std::vector<int>{3, 7}));
    EXPECT_EQ(reference_encode(tok, "abab", false), tok.encode("abab", false));
    // No byte tokens in this vocabulary: unknown characters become <unk>.
    EXPECT_EQ(tok.encode("c", false), (std::vector<int>{3, 0}));
}

TEST(Tokenizer, BadTokenizerFilesAreIoErrors) {
    const std::string path = surgeon_test::tokenizer_file();
    if (path.empty()) GTEST_SKIP() << "tok512.bin not found";
    const std::string good = surgeon_test::read_text(path);
    const std::string bad = temp_path("bad_tok.bin");
    auto status_of = [&](const std::string& bytes) {
        std::FILE* f = std::fopen(bad.c_str(), "wb");
        std::fwrite(bytes.data(), 1, bytes.size(), f);
        std::fclose(f);
        try {
            Tokenizer::load(bad, 512);
        } catch (const Error& e) {
            return e.status();
        }
        return SURGEON_OK;
    };
    EXPECT_EQ(status_of(""), SURGEON_ERR_IO);
    EXPECT_EQ(status_of(good.substr(0, 2)), SURGEON_ERR_IO);
    EXPECT_EQ(status_of(good.substr(0, good.size() - 1)), SURGEON_ERR_IO);
    EXPECT_EQ(status_of(good + "x"), SURGEON_ERR_IO);
    std::string huge_len = good;
    const int32_t len = 1 << 30;
    std::memcpy(&huge_len[8], &len, 4);  // length of entry 0
    EXPECT_EQ(status_of(huge_len), SURGEON_ERR_IO);
    std::string zero_max = good;
    std::memset(&zero_max[0], 0, 4);
    EXPECT_EQ(status_of(zero_max), SURGEON_ERR_IO);
    EXPECT_EQ(status_of(good), SURGEON_OK);
    try {
        Tokenizer::load(temp_path("missing"));
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_IO);
    }
    std::remove(bad.c_str());
}

TEST(Tokenizer, TokenFiles) {
    const std::string path = temp_path("ids.bin");
    const std::vector<int> ids = {1, 301, 0, 511, 13};
    write_token_file(ids, path);
    EXPECT_EQ(read_token_file(path, 512), ids);
    EXPECT_EQ(read_token_file(path), ids);
    auto status_of = [&](auto&& call) {
        try {
            call();
        } catch (const Error& e) {
            return e.status();
        }
        return SURGEON_OK;
    };
    EXPECT_EQ(status_of([&] { read_token_file(path, 300); }), SURGEON_ERR_IO);  // id 301 too big
    write_token_file({1, -5}, path);
    EXPECT_EQ(status_of([&] { read_token_file(path); }), SURGEON_ERR_IO);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite("abcdef", 1, 6, f);
    std::fclose(f);
    EXPECT_EQ(status_of([&] { read_token_file(path); }), SURGEON_ERR_IO);
    std::remove(path.c_str());
}
