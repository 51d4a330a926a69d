// Backward pass and output Fisher: gradients of every linear's output against central
// finite differences of sequence_nll on a small random model (grouped-query attention,
// RoPE, SwiGLU, untied classifier), and the Fisher's definition and loss prediction.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "nn/backward.hpp"
#include "nn/fisher.hpp"
#include "nn/forward.hpp"
#include "nn/perplexity.hpp"
#include "hf_util.hpp"

namespace surgeon::model {
namespace {

Model gradient_test_model() { return hfio_test::gradient_test_model(11); }

std::vector<int> random_tokens(int n, int vocab, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> d(0, vocab - 1);
    std::vector<int> t(static_cast<size_t>(n));
    for (int& v : t) v = d(rng);
    return t;
}

// Inputs of every block's linears for tokens[0..T-2] (what the backward pass runs).
std::vector<BlockCapture> captures(const Model& m, const std::vector<int>& tokens) {
    std::vector<BlockCapture> out(m.layers.size());
    Matrix x = embed(m, std::vector<int>(tokens.begin(), tokens.end() - 1));
    for (size_t b = 0; b < m.layers.size(); ++b) x = block_forward(cpu_backend(2), m.config, m.layers[b], x, &out[b]);
    return out;
}

TEST(Backward, NllIsSequenceNll) {
    const Model m = gradient_test_model();
    const std::vector<int> tokens = random_tokens(14, 40, 3);
    EXPECT_NEAR(linear_output_gradients(cpu_backend(2), m, tokens).nll, sequence_nll(cpu_backend(2), m, tokens), 1e-4);
    const SequenceGradients none = linear_output_gradients(cpu_backend(2), m, {5});
    EXPECT_EQ(none.nll, 0.0);
    EXPECT_TRUE(none.blocks.empty());
}

// d/dε Σ NLL(W + ε·D) = Σ_{t,i} G_{t,i}·(X·Dᵀ)_{t,i} for every linear of every block.
void expect_gradients_match_finite_differences(Model m, const std::vector<int>& tokens) {
    const SequenceGradients g = linear_output_gradients(cpu_backend(2), m, tokens);
    const std::vector<BlockCapture> cap = captures(m, tokens);
    std::mt19937 rng(9);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const double eps = 1e-3;
    for (size_t b = 0; b < m.layers.size(); ++b)
        for (const char* name : kLinearNames) {
            Matrix& w = linear(m.layers[b], name);
            Matrix d(w.rows, w.cols);
            for (float& v : d.data) v = normal(rng);
            const Matrix& x = captured(cap[b], input_of(name));
            const Matrix& grad = g.blocks[b].of(name);
            ASSERT_EQ(grad.rows, x.rows);
            ASSERT_EQ(grad.cols, w.rows);
            double analytic = 0.0;
            for (int64_t t = 0; t < x.rows; ++t)
                for (int64_t i = 0; i < w.rows; ++i) {
                    double dy = 0.0;
                    for (int64_t j = 0; j < w.cols; ++j) dy += static_cast<double>(d(i, j)) * x(t, j);
                    analytic += grad(t, i) * dy;
                }
            const Matrix saved = w;
            for (size_t k = 0; k < w.data.size(); ++k) w.data[k] = saved.data[k] + static_cast<float>(eps) * d.data[k];
            const double up = sequence_nll(cpu_backend(2), m, tokens);
            for (size_t k = 0; k < w.data.size(); ++k) w.data[k] = saved.data[k] - static_cast<float>(eps) * d.data[k];
            const double down = sequence_nll(cpu_backend(2), m, tokens);
            w = saved;
            const double numeric = (up - down) / (2.0 * eps);
            EXPECT_NEAR(analytic, numeric, 0.02 * std::abs(numeric) + 2e-3)
                << "block " << b << " " << name;
        }
}

TEST(Backward, OutputGradientsMatchFiniteDifferences) {
    expect_gradients_match_finite_differences(gradient_test_model(), random_tokens(14, 40, 4));
}

// Heads narrower than the residual (head_dim 4 × 2 query heads over 1 kv head, dim 16),
// as left by removing heads.
TEST(Backward, NarrowHeadsMatchFiniteDifferences) {
    Model m = gradient_test_model();
    m.config.n_heads = 2;
    m.config.n_kv_heads = 1;
    m.config.head_dim = 4;
    std::mt19937 rng(21);
    std::normal_distribution<float> g(0.0f, 0.4f);
    auto random = [&](int64_t r, int64_t c) {
        Matrix x(r, c);
        for (float& v : x.data) v = g(rng);
        return x;
    };
    for (LayerWeights& L : m.layers) {
        L.wq = random(8, 16);
        L.wk = random(4, 16);
        L.wv = random(4, 16);
        L.wo = random(16, 8);
    }
    expect_gradients_match_finite_differences(m, random_tokens(12, 40, 6));
}

TEST(Fisher, IsTheMeanSquaredGradientPerOutputRow) {
    const Model m = gradient_test_model();
    const std::vector<std::vector<int>> seqs = {random_tokens(10, 40, 1), random_tokens(7, 40, 2),
                                                random_tokens(12, 40, 3)};
    const OutputFisher f = output_fisher(cpu_backend(2), m, seqs);
    EXPECT_EQ(f.tokens, 9 + 6 + 11);
    std::vector<double> expect(static_cast<size_t>(m.layers[1].w1.rows), 0.0);
    double nll = 0.0;
    for (const auto& s : seqs) {
        const SequenceGradients g = linear_output_gradients(cpu_backend(2), m, s);
        nll += g.nll;
        for (int64_t t = 0; t < g.blocks[1].w1.rows; ++t)
            for (int64_t r = 0; r < g.blocks[1].w1.cols; ++r) expect[r] += std::pow(g.blocks[1].w1(t, r), 2) / 26.0;
    }
    const std::vector<double>& got = f.of("layers.1.w1");
    ASSERT_EQ(got.size(), expect.size());
    for (size_t r = 0; r < got.size(); ++r) EXPECT_NEAR(got[r], expect[r], 1e-9 + 1e-6 * expect[r]);
    EXPECT_NEAR(f.nll, nll / 26.0, 1e-9);
    // The thread count changes the schedule, not the sums.
    const OutputFisher one = output_fisher(cpu_backend(1), m, seqs);
    EXPECT_EQ(one.of("layers.0.wq"), f.of("layers.0.wq"));
    EXPECT_THROW(f.of("layers.9.wq"), Error);
}

}  // namespace
}  // namespace surgeon::model
