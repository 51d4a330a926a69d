// The family options of the block's ops: the sliding-window softmax, the RoPE frequency
// scalings against their closed forms, and the backward pass's refusals.
#include <gtest/gtest.h>

#include <cmath>

#include "core/backend.hpp"
#include "core/error.hpp"
#include "nn/backward.hpp"
#include "nn/ops.hpp"

using namespace surgeon;
using namespace surgeon::model;

namespace {

TEST(FamilyOps, SlidingWindowSoftmaxSeesTheLastWindowKeys) {
    // Row t of equal scores over a window of 3: 1/3 on keys t-2..t (fewer at the start).
    Matrix s(6, 6, 0.5f);
    ops::causal_softmax(s, 0, 3);
    for (int64_t t = 0; t < 6; ++t)
        for (int64_t j = 0; j < 6; ++j) {
            const bool seen = j <= t && j > t - 3;
            const double want = seen ? 1.0 / static_cast<double>(std::min<int64_t>(t + 1, 3)) : 0.0;
            EXPECT_NEAR(s.row(t)[j], want, 1e-7) << t << "," << j;
        }
    // Window 0 is plain causal attention.
    Matrix c(2, 2, 1.0f);
    ops::causal_softmax(c, 0, 0);
    EXPECT_FLOAT_EQ(c.row(1)[0], 0.5f);
}

TEST(FamilyOps, RopeScalingsFollowTheirClosedForms) {
    ModelConfig c;
    c.dim = 64;
    c.n_heads = 4;
    c.n_kv_heads = 4;
    c.seq_len = 32;
    c.rope_theta = 10000.0f;
    const std::vector<double> plain = ops::rope_frequencies(c, 16);
    for (size_t j = 0; j < plain.size(); ++j) EXPECT_DOUBLE_EQ(plain[j], std::pow(10000.0, -2.0 * double(j) / 16.0));
    c.rope_scaling = {RopeScalingKind::linear, 4.0, 1.0, 4.0, 0};
    EXPECT_DOUBLE_EQ(ops::rope_frequencies(c, 16)[3], plain[3] / 4.0);
    // Dynamic NTK: unchanged within the original context, base·(f·L/L0 − (f−1))^(d/(d−2)) past it.
    c.rope_scaling = {RopeScalingKind::dynamic, 2.0, 1.0, 4.0, 0};
    EXPECT_DOUBLE_EQ(ops::rope_frequencies(c, 32)[5], plain[5]);
    const double base = 10000.0 * std::pow(2.0 * 64 / 32 - 1.0, 16.0 / 14.0);
    EXPECT_NEAR(ops::rope_frequencies(c, 64)[5], std::pow(base, -10.0 / 16.0), 1e-15);
    // llama3 (original context 64, low 1, high 4): wavelengths above 64 divided by 8,
    // below 16 kept, between them the ramp.
    c.rope_scaling = {RopeScalingKind::llama3, 8.0, 1.0, 4.0, 64};
    const std::vector<double> l3 = ops::rope_frequencies(c, 16);
    for (size_t j = 0; j < plain.size(); ++j) {
        const double wavelen = 2 * M_PI / plain[j];
        if (wavelen < 16) EXPECT_DOUBLE_EQ(l3[j], plain[j]) << j;
        else if (wavelen > 64) EXPECT_DOUBLE_EQ(l3[j], plain[j] / 8) << j;
        else {
            const double smooth = (64 / wavelen - 1) / 3;
            EXPECT_NEAR(l3[j], (1 - smooth) * plain[j] / 8 + smooth * plain[j], 1e-15) << j;
        }
    }
}

TEST(FamilyOps, BackwardRefusesQkNormsAndExperts) {
    Model m;
    m.config.dim = 8;
    m.config.n_heads = 2;
    m.config.n_kv_heads = 2;
    m.config.family = "qwen3";
    m.config.qk_norm = true;
    Backend& be = cpu_backend(1);
    try {
        linear_output_gradients(be, m, {1, 2, 3});
        FAIL() << "expected UNSUPPORTED";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_UNSUPPORTED);
        EXPECT_NE(std::string(e.what()).find("q/k norms"), std::string::npos);
    }
    m.config.qk_norm = false;
    m.config.family = "mixtral";
    m.config.moe.n_experts = 4;
    try {
        linear_output_gradients(be, m, {1, 2, 3});
        FAIL() << "expected UNSUPPORTED";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_UNSUPPORTED);
        EXPECT_NE(std::string(e.what()).find("Mixture-of-Experts"), std::string::npos);
    }
}

}  // namespace
