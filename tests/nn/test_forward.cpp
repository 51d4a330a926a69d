// The forward pass against the numbers in the data's SOURCES.md (produced by llama2.c's
// own run.c and an independent PyTorch implementation): greedy sample, first-paragraph
// token ids, mean NLL of the first 50 paragraphs; and internal consistency (KV cache vs
// whole-sequence forward, windows protocol).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "nn/forward.hpp"
#include "nn/generate.hpp"
#include "io/llama2c.hpp"
#include "nn/perplexity.hpp"
#include "io/tokenizer.hpp"
#include "llama2c_data.hpp"

using namespace surgeon;
using namespace surgeon::model;

namespace {

struct Stories {
    Model model;
    Tokenizer tokenizer{{"<unk>"}, {0.0f}};
    std::string text;
};

const Stories& stories() {
    static const Stories s = [] {
        Stories r;
        r.model = read_llama2c(surgeon_test::model_file());
        r.tokenizer = Tokenizer::load(surgeon_test::tokenizer_file(), r.model.config.vocab_size);
        r.text = surgeon_test::read_text(surgeon_test::stories_file());
        return r;
    }();
    return s;
}

}  // namespace

TEST(Forward, GreedySampleMatchesSources) {
    const Stories& s = stories();
    std::string text;
    const std::vector<int> out = generate(cpu_backend(2), s.model, {Tokenizer::kBos}, 64, SamplingOptions{},
                                          [&](int prev, int token) { text += s.tokenizer.decode(prev, token); });
    EXPECT_EQ(text.rfind("Once upon a time, there was a little girl named Lily. She loved to play "
                         "outside in the park. One day, she saw a big, red ball.", 0),
              0u)
        << text;
    EXPECT_EQ(out.front(), Tokenizer::kBos);
}

TEST(Forward, MeanNllOfFirst50ParagraphsMatchesSources) {
    const Stories& s = stories();
    const auto seqs = paragraph_sequences(s.tokenizer, s.text, Range{0, 50}, 512);
    const PerplexityResult r = evaluate_sequences(cpu_backend(2), s.model, seqs);
    EXPECT_EQ(r.sequences, 50);
    EXPECT_EQ(r.tokens, 5055);
    EXPECT_NEAR(r.nll, 1.3847, 1e-3);
    EXPECT_NEAR(r.ppl, std::exp(r.nll), 1e-12);
}

// Nothing to predict (no sequences, or none of two tokens) has no perplexity: an error,
// not exp(0) = 1. One scorable sequence among empty ones is scored alone.
TEST(Forward, PerplexityOverNoPredictionIsAnError) {
    const Stories& s = stories();
    for (const std::vector<std::vector<int>>& seqs :
         {std::vector<std::vector<int>>{}, {{}}, {{5}}, {{5}, {}, {7}}}) {
        try {
            evaluate_sequences(cpu_backend(2), s.model, seqs);
            ADD_FAILURE() << seqs.size() << " sequences scored";
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), SURGEON_ERR_INVALID_ARGUMENT);
        }
    }
    const PerplexityResult one = evaluate_sequences(cpu_backend(2), s.model, {{5}, {1, 5, 9}});
    const PerplexityResult alone = evaluate_sequences(cpu_backend(2), s.model, {{1, 5, 9}});
    EXPECT_EQ(one.tokens, 2);
    EXPECT_EQ(one.sequences, 2);
    EXPECT_DOUBLE_EQ(one.nll, alone.nll);
}

TEST(Forward, KvCacheGivesTheSameLogitsAsTheWholeSequence) {
    const Stories& s = stories();
    const std::vector<int> tokens = s.tokenizer.encode("Once upon a time, a cat sat on a mat.", true);
    const Matrix full = forward(cpu_backend(2), s.model, tokens);
    KVCache cache(s.model);
    // Feed the first half at once and the rest one token at a time.
    const size_t half = tokens.size() / 2;
    Matrix part = forward_cached(cpu_backend(2), s.model, cache, std::vector<int>(tokens.begin(), tokens.begin() + half));
    std::vector<Matrix> rows{part};
    for (size_t t = half; t < tokens.size(); ++t) rows.push_back(forward_cached(cpu_backend(2), s.model, cache, {tokens[t]}));
    int64_t row = 0;
    for (const Matrix& m : rows)
        for (int64_t r = 0; r < m.rows; ++r, ++row)
            for (int64_t v = 0; v < m.cols; ++v) ASSERT_NEAR(m(r, v), full(row, v), 1e-4) << row;
    EXPECT_EQ(row, static_cast<int64_t>(tokens.size()));
    EXPECT_EQ(cache.size(), static_cast<int64_t>(tokens.size()));
}

TEST(Forward, SequenceNllIsTheSumOverPredictedTokens) {
    const Stories& s = stories();
    const std::vector<int> tokens = s.tokenizer.encode("The dog ran to the park.", true);
    const Matrix logits = forward(cpu_backend(2), s.model, tokens);
    double expected = 0.0;
    for (size_t t = 0; t + 1 < tokens.size(); ++t) {
        double mx = -1e30, sum = 0.0;
        for (int64_t v = 0; v < logits.cols; ++v) mx = std::max(mx, static_cast<double>(logits(t, v)));
        for (int64_t v = 0; v < logits.cols; ++v) sum += std::exp(logits(t, v) - mx);
        expected += mx + std::log(sum) - logits(t, tokens[t + 1]);
    }
    EXPECT_NEAR(sequence_nll(cpu_backend(2), s.model, tokens), expected, 1e-4);
}

// Finite weights whose logits overflow (a final norm of 3e38 scales the hidden state past
// the float range): a NUMERIC error, never a NaN perplexity.
TEST(Perplexity, NonFiniteLogLikelihoodIsANumericError) {
    const Stories& s = stories();
    Model m = s.model;
    for (float& v : m.rms_final) v = 3e38f;
    const auto seqs = paragraph_sequences(s.tokenizer, s.text, Range{0, 3}, 512);
    for (int run = 0; run < 2; ++run) {
        try {
            if (run == 0)
                evaluate_sequences(cpu_backend(2), m, seqs);
            else
                sequence_nll(cpu_backend(1), m, seqs[1]);
            ADD_FAILURE() << "no error, run " << run;
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), SURGEON_ERR_NUMERIC) << e.what();
            EXPECT_NE(std::string(e.what()).find("negative log-likelihood of sequence"), std::string::npos) << e.what();
        }
    }
}

TEST(Perplexity, WindowsProtocolCutsNonOverlappingWindowsWithoutBos) {
    std::vector<int> tokens(100);
    for (int i = 0; i < 100; ++i) tokens[static_cast<size_t>(i)] = 3 + i % 7;
    const auto all = window_sequences(tokens, Range{}, 32);
    ASSERT_EQ(all.size(), 3u);  // the last partial window (4 tokens) is dropped
    EXPECT_EQ(all[1].front(), tokens[32]);
    EXPECT_EQ(all[2].back(), tokens[95]);
    const auto some = window_sequences(tokens, Range{1, 2}, 32);
    ASSERT_EQ(some.size(), 1u);
    EXPECT_EQ(some[0], all[1]);
}

TEST(Perplexity, ParagraphRangesAndTruncation) {
    const Stories& s = stories();
    const auto paragraphs = split_paragraphs(s.text);
    const auto seqs = paragraph_sequences(s.tokenizer, s.text, Range{10, 13}, 16);
    ASSERT_EQ(seqs.size(), 3u);
    for (size_t i = 0; i < seqs.size(); ++i) {
        std::vector<int> full = s.tokenizer.encode(paragraphs[10 + i], true);
        full.resize(std::min<size_t>(full.size(), 16));
        EXPECT_EQ(seqs[i], full);
    }
    EXPECT_THROW(resolve_range(Range{5, 3}, 10, "paragraphs", "the text"), Error);
    // The message names what is counted and what the input has.
    try {
        paragraph_sequences(s.tokenizer, "one paragraph only", Range{2000, 2128}, 16);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_INVALID_ARGUMENT);
        EXPECT_STREQ(e.what(), "paragraphs 2000:2128 requested, the text has 1");
    }
    try {
        window_sequences(std::vector<int>(100, 1), Range{4, -1}, 32);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "windows 4: requested, the token stream has 3");
    }
    EXPECT_THROW(parse_range("x:y"), Error);
    const Range r = parse_range("7:");
    EXPECT_EQ(r.begin, 7);
    EXPECT_EQ(r.end, -1);
}

// Per-token activation quantization: every linear's captured input holds at most 2^bits
// values per token, incremental decoding sees the same quantization as the whole sequence
// (the grid of a token depends on that token alone), and 16-bit activations are the float
// model to 1e-3.
TEST(ActivationQuantization, InputsOnTheGridPerTokenAndCacheConsistent) {
    const Stories& s = stories();
    const std::vector<int> tokens = s.tokenizer.encode("Once upon a time, a cat sat on a mat.", true);
    Model m = s.model;
    m.config.act_bits = 3;
    Matrix x = embed(m, tokens);
    for (const LayerWeights& L : m.layers) {
        BlockCapture cap;
        x = block_forward(cpu_backend(2), m.config, L, x, &cap);
        for (const Matrix* in : {&cap.attn_in, &cap.attn_out_in, &cap.ffn_in, &cap.down_in})
            for (int64_t t = 0; t < in->rows; ++t) {
                std::vector<float> row(in->row(t), in->row(t) + in->cols);
                std::sort(row.begin(), row.end());
                EXPECT_LE(std::unique(row.begin(), row.end()) - row.begin(), 8);
            }
    }
    const Matrix full = forward(cpu_backend(2), m, tokens);
    KVCache cache(m);
    const size_t half = tokens.size() / 2;
    Matrix part = forward_cached(cpu_backend(2), m, cache, std::vector<int>(tokens.begin(), tokens.begin() + half));
    for (int64_t r = 0; r < part.rows; ++r)
        for (int64_t v = 0; v < part.cols; ++v) ASSERT_NEAR(part(r, v), full(r, v), 1e-4) << r;
    for (size_t t = half; t < tokens.size(); ++t) {
        const Matrix one = forward_cached(cpu_backend(2), m, cache, {tokens[t]});
        for (int64_t v = 0; v < one.cols; ++v) ASSERT_NEAR(one(0, v), full(static_cast<int64_t>(t), v), 1e-4) << t;
    }
    const Matrix dense = forward(cpu_backend(2), s.model, tokens);
    m.config.act_bits = 16;
    const Matrix fine = forward(cpu_backend(2), m, tokens);
    double worst = 0.0, scale = 0.0;
    for (size_t k = 0; k < dense.data.size(); ++k) {
        worst = std::max(worst, static_cast<double>(std::fabs(fine.data[k] - dense.data[k])));
        scale = std::max(scale, static_cast<double>(std::fabs(dense.data[k])));
    }
    EXPECT_LT(worst, 1e-3 * scale);
    EXPECT_GT(worst, 0.0);
}
