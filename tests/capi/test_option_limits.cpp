// Option values at the edges of the C API: thread counts outside [0, 1024] are refused; a
// quantization group or a solver block wider than the weight runs as per-row / one block
// (the same bytes as group 0 / block = cols); perplexity over nothing to predict is
// SURGEON_ERR_INVALID_ARGUMENT, never 1.0.
#include <climits>
#include <limits>

#include "capi_helpers.hpp"

namespace capi_test {
namespace {

constexpr int64_t kHuge = std::numeric_limits<int64_t>::max();

TEST(CapiOptionLimits, ThreadCountsAreBounded) {
    surgeon_context* raw = nullptr;
    CAPI_OK(surgeon_context_new(&raw));
    ContextPtr ctx(raw);
    CAPI_OK(surgeon_context_set_threads(ctx.get(), 3));
    for (int bad : {-1, 1025, 4096, INT_MAX, INT_MIN}) {
        EXPECT_EQ(surgeon_context_set_threads(ctx.get(), bad), SURGEON_ERR_INVALID_ARGUMENT) << bad;
        int now = 0;
        CAPI_OK(surgeon_context_get_threads(ctx.get(), &now));
        EXPECT_EQ(now, 3) << "a refused value changed the context";
    }
    CAPI_OK(surgeon_context_set_threads(ctx.get(), 1024));
    CAPI_OK(surgeon_context_set_threads(ctx.get(), 0));
}

struct Quantized {
    std::vector<float> w;
    std::vector<uint8_t> codes;
    int64_t groups = 0;
};

Quantized quantize(const surgeon_hessian* h, int64_t block, int64_t group, const std::vector<float>& w0,
                   int64_t rows, int64_t cols) {
    SolverPtr s = new_solver(h, block);
    QuantizerPtr q = new_quantizer(4, group);
    QResultPtr r = new_qresult();
    Quantized out{w0, {}, 0};
    EXPECT_EQ(surgeon_solver_quantize(s.get(), out.w.data(), rows, cols, cols, q.get(), r.get(), nullptr),
              SURGEON_OK)
        << last_error();
    int64_t rr = 0, cc = 0;
    EXPECT_EQ(surgeon_qresult_shape(r.get(), &rr, &cc, &out.groups, nullptr), SURGEON_OK);
    out.codes.resize(static_cast<size_t>(rows * cols));
    EXPECT_EQ(surgeon_qresult_codes(r.get(), out.codes.data()), SURGEON_OK);
    return out;
}

TEST(CapiOptionLimits, HugeGroupIsPerRowAndHugeBlockIsOneBlock) {
    const int64_t rows = 8, cols = 40;
    auto h = random_hessian(cols, 300, 11);
    const auto w0 = random_matrix(rows, cols, 12);
    const Quantized per_row = quantize(h.get(), 128, 0, w0, rows, cols);
    EXPECT_EQ(per_row.groups, 1);
    for (int64_t group : {cols, cols + 1, kHuge}) {
        const Quantized g = quantize(h.get(), 128, group, w0, rows, cols);
        EXPECT_EQ(g.groups, 1) << group;
        EXPECT_EQ(g.codes, per_row.codes) << group;
        EXPECT_EQ(g.w, per_row.w) << group;
    }
    const Quantized one_block = quantize(h.get(), cols, 8, w0, rows, cols);
    for (int64_t block : {int64_t{2147483648}, kHuge}) {
        const Quantized b = quantize(h.get(), block, 8, w0, rows, cols);
        EXPECT_EQ(b.codes, one_block.codes) << block;
        EXPECT_EQ(b.w, one_block.w) << block;
    }
    surgeon_solver_options* raw = nullptr;
    CAPI_OK(surgeon_solver_options_new(&raw));
    SolverOptionsPtr o(raw);
    for (int64_t bad : {int64_t{0}, int64_t{-1}, std::numeric_limits<int64_t>::min()})
        EXPECT_EQ(surgeon_solver_options_set_block_size(o.get(), bad), SURGEON_ERR_INVALID_ARGUMENT) << bad;
    QuantizerPtr q = new_quantizer(4);
    EXPECT_EQ(surgeon_quantizer_set_group_size(q.get(), -1), SURGEON_ERR_INVALID_ARGUMENT);
}

TEST(CapiOptionLimits, PerplexityOverNothingIsAnError) {
    ModelPtr m = load_model();
    for (const char* text : {"", "\n\n\n", "   "}) {
        for (surgeon_eval_mode mode : {SURGEON_EVAL_PARAGRAPHS, SURGEON_EVAL_WINDOWS}) {
            surgeon_perplexity p = SURGEON_PERPLEXITY_INIT;
            EXPECT_EQ(surgeon_model_perplexity(nullptr, m.get(), text, mode, 0, -1, 0, &p),
                      SURGEON_ERR_INVALID_ARGUMENT)
                << "'" << text << "' mode " << mode;
            EXPECT_NE(p.ppl, 1.0);
        }
    }
    const int32_t one = 1;
    surgeon_perplexity p = SURGEON_PERPLEXITY_INIT;
    EXPECT_EQ(surgeon_model_perplexity_tokens(nullptr, m.get(), &one, 1, 16, &p), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_model_perplexity_tokens(nullptr, m.get(), &one, 0, 16, &p), SURGEON_ERR_INVALID_ARGUMENT);
    // Whole windows only: 15 tokens make no window of 16, 16 tokens one (15 predictions).
    std::vector<int32_t> ids(16);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(1 + 7 * i);
    EXPECT_EQ(surgeon_model_perplexity_tokens(nullptr, m.get(), ids.data(), 15, 16, &p), SURGEON_ERR_INVALID_ARGUMENT);
    CAPI_OK(surgeon_model_perplexity_tokens(nullptr, m.get(), ids.data(), 16, 16, &p));
    EXPECT_EQ(p.sequences, 1);
    EXPECT_EQ(p.tokens, 15);
}

}  // namespace
}  // namespace capi_test
