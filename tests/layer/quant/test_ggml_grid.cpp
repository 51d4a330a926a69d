// The ggml grid (GridKind::ggml): llama.cpp's Q4_0 / Q8_0 block scales, fp16-rounded, with
// codes the blocks store. Checked against the closed form of the definition (d = m/−8 of
// the signed value of largest magnitude, d = amax/127; codes clamp(rne(x/d) + zero)), in
// RTN, in GPTQ with static groups (grids from the dense weights, so the closed form holds
// for every group) and with dynamic groups (exact representability, and a lower
// H-weighted error than RTN on the same grid), and the settings it refuses.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/context.hpp"
#include "core/error.hpp"
#include "core/half.hpp"
#include "hf_util.hpp"
#include "layer/hessian/hessian.hpp"
#include "layer/quant/quantizer.hpp"
#include "layer/quant/rtn.hpp"
#include "layer/solver/solver.hpp"

namespace surgeon {
namespace {

Matrix random_matrix(int64_t rows, int64_t cols, unsigned seed) {
    std::mt19937 rng(seed);
    return hfio_test::random_matrix(rows, cols, rng, 0.1f);
}

QuantConfig ggml(int bits) {
    QuantConfig q;
    q.bits = bits;
    q.group_size = 32;
    q.kind = GridKind::ggml;
    return q;
}

float fp16(float v) { return f16_to_float(float_to_f16(v)); }

// The closed form, from the definition.
struct Expected {
    float d;
    std::vector<uint8_t> codes;
};
Expected closed_form(const float* x, int64_t n, int bits) {
    float amax = -1, m = 0;
    for (int64_t i = 0; i < n; ++i)
        if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), m = x[i];
    Expected e;
    e.d = fp16(bits == 4 ? m / -8 : amax / 127);
    const float zero = bits == 4 ? 8.0f : 128.0f, maxq = bits == 4 ? 15.0f : 255.0f;
    for (int64_t i = 0; i < n; ++i)
        e.codes.push_back(static_cast<uint8_t>(std::clamp(std::nearbyint(x[i] / e.d) + zero, 0.0f, maxq)));
    return e;
}

TEST(GgmlGrid, ScalesAreTheFp16BlockScales) {
    // Q4_0: the value of largest magnitude with its sign maps to code 0; the opposite
    // extreme clamps at 15 (q = +7).
    const float x[4] = {0.25f, -0.1f, 0.5f, -0.5f};
    const Grid g4 = find_grid(x, 4, 4, ggml(4));
    EXPECT_EQ(g4.scale, -0.0625f);  // the first of ±0.5: m = 0.5, d = −0.0625
    EXPECT_EQ(g4.zero, 8.0f);
    EXPECT_EQ(g4.maxq, 15);
    EXPECT_EQ(quantize_code(0.5f, g4), 0.0f);
    EXPECT_EQ(quantize_code(-0.5f, g4), 15.0f);
    EXPECT_EQ(dequantize_code(15.0f, g4), -0.4375f);
    const Grid g8 = find_grid(x, 4, 8, ggml(8));
    EXPECT_EQ(g8.scale, fp16(0.5f / 127));
    EXPECT_NE(g8.scale, 0.5f / 127);  // rounded to fp16 before use
    EXPECT_EQ(g8.zero, 128.0f);
    EXPECT_EQ(g8.maxq, 255);
    EXPECT_EQ(quantize_code(-0.5f, g8), 1.0f);  // q = −127
    // All zeros: d = 0, every value dequantizes to 0.
    const float z[3] = {0, 0, 0};
    EXPECT_EQ(find_grid(z, 3, 4, ggml(4)).scale, 0.0f);
    EXPECT_EQ(dequantize_code(quantize_code(0.0f, find_grid(z, 3, 4, ggml(4))), find_grid(z, 3, 4, ggml(4))), 0.0f);
    // A weight too large for an fp16 scale.
    const float big[1] = {1e6f};
    hfio_test::expect_error([&] { find_grid(big, 1, 4, ggml(4)); }, SURGEON_ERR_UNSUPPORTED,
                            "overflows the fp16 scale of a Q4_0 block");
}

TEST(GgmlGrid, RtnIsTheClosedFormBlockByBlock) {
    for (int bits : {4, 8}) {
        Matrix w = random_matrix(16, 96, 5), w0 = w;
        QuantResult r;
        quantize_rtn(*default_context(), w.view(), ggml(bits), &r);
        ASSERT_EQ(r.groups, 3);
        for (int64_t row = 0; row < 16; ++row)
            for (int64_t g = 0; g < 3; ++g) {
                const Expected e = closed_form(w0.row(row) + 32 * g, 32, bits);
                EXPECT_EQ(r.scales[static_cast<size_t>(row * 3 + g)], e.d);
                for (int64_t j = 0; j < 32; ++j) {
                    const uint8_t c = r.codes[static_cast<size_t>(row * 96 + 32 * g + j)];
                    EXPECT_EQ(c, e.codes[static_cast<size_t>(j)]);
                    EXPECT_EQ(w(row, 32 * g + j), e.d * (static_cast<float>(c) - (bits == 4 ? 8.0f : 128.0f)));
                }
            }
    }
}

std::unique_ptr<Hessian> correlated_hessian(int64_t n) {
    Matrix x = random_matrix(4 * n, n, 11);
    for (int64_t t = 0; t < x.rows; ++t)
        for (int64_t j = 1; j < n; ++j) x(t, j) += 0.7f * x(t, j - 1);
    auto h = std::make_unique<Hessian>(default_context(), n);
    h->add(x.data.data(), x.rows, n);
    return h;
}

// Σ_r (w − q)_r H (w − q)_rᵀ: the layer's output error on the calibration inputs.
double output_error(const Matrix& w, const Matrix& q, const Matrix& h) {
    double total = 0;
    for (int64_t r = 0; r < w.rows; ++r)
        for (int64_t i = 0; i < w.cols; ++i)
            for (int64_t j = 0; j < w.cols; ++j)
                total += static_cast<double>(w(r, i) - q(r, i)) * h(i, j) * (w(r, j) - q(r, j));
    return total;
}

TEST(GgmlGrid, GptqCodesAreExactBlocksAndBeatRtn) {
    const int64_t rows = 24, cols = 128;
    auto h = correlated_hessian(cols);
    for (int bits : {4, 8}) {
        const Matrix w0 = random_matrix(rows, cols, 21 + static_cast<unsigned>(bits));
        Solver solver(default_context(), *h, 0.01, 64);
        Matrix w = w0;
        QuantResult r;
        solver.quantize(w.view(), ggml(bits), &r, nullptr);
        // Exactly representable: fp16 scales, zeros 2^(bits−1), groups of 32 in order, and
        // d·(code − zero) is the solver's weight.
        Matrix deq(rows, cols);
        r.dequantize(deq.data.data(), cols);
        EXPECT_EQ(deq.data, w.data);
        for (size_t i = 0; i < r.scales.size(); ++i) {
            EXPECT_EQ(fp16(r.scales[i]), r.scales[i]);
            EXPECT_EQ(r.zeros[i], bits == 4 ? 8.0f : 128.0f);
        }
        for (int64_t j = 0; j < cols; ++j) EXPECT_EQ(r.g_idx[static_cast<size_t>(j)], j / 32);
        // The first group's grid comes from the dense weights (nothing updated them yet).
        for (int64_t row = 0; row < rows; ++row)
            EXPECT_EQ(r.scales[static_cast<size_t>(row * 4)], closed_form(w0.row(row), 32, bits).d);
        Matrix rtn = w0;
        quantize_rtn(*default_context(), rtn.view(), ggml(bits), nullptr);
        const Matrix& hm = solver.hessian();
        EXPECT_LT(output_error(w0, w, hm), 0.9 * output_error(w0, rtn, hm)) << bits << " bits";
    }
}

TEST(GgmlGrid, ActOrderWithStaticGroupsKeepsTheDenseBlockScales) {
    const int64_t rows = 8, cols = 96;
    auto h = correlated_hessian(cols);
    const Matrix w0 = random_matrix(rows, cols, 31);
    QuantConfig q = ggml(4);
    q.act_order = true;
    q.static_groups = true;
    Solver solver(default_context(), *h, 0.01, 128);
    Matrix w = w0;
    QuantResult r;
    solver.quantize(w.view(), q, &r, nullptr);
    for (int64_t j = 0; j < cols; ++j) EXPECT_EQ(r.g_idx[static_cast<size_t>(j)], j / 32);
    for (int64_t row = 0; row < rows; ++row)
        for (int64_t g = 0; g < 3; ++g)
            EXPECT_EQ(r.scales[static_cast<size_t>(row * 3 + g)], closed_form(w0.row(row) + 32 * g, 32, 4).d);
    Matrix deq(rows, cols);
    r.dequantize(deq.data.data(), cols);
    EXPECT_EQ(deq.data, w.data);
}

TEST(GgmlGrid, SettingsOffTheBlockFormatsAreRefused) {
    struct Case {
        void (*edit)(QuantConfig&);
        const char* needle;
    };
    const Case cases[] = {
        {[](QuantConfig& q) { q.bits = 3; }, "got 3 bits"},
        {[](QuantConfig& q) { q.symmetric = false; }, "symmetric"},
        {[](QuantConfig& q) { q.group_size = 128; }, "got 128"},
        {[](QuantConfig& q) { q.group_size = 0; }, "got 0"},
        {[](QuantConfig& q) { q.mse = true; }, "no MSE"},
        {[](QuantConfig& q) { q.act_order = true; }, "static groups"},
    };
    for (const Case& c : cases) {
        QuantConfig q = ggml(4);
        c.edit(q);
        hfio_test::expect_error([&] { q.validate(); }, SURGEON_ERR_INVALID_ARGUMENT, c.needle);
    }
    ggml(8).validate();
}

}  // namespace
}  // namespace surgeon
