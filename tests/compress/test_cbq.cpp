// CBQ: the window loss and its weight gradients against finite differences, LoRA-rounding
// against its closed forms (rounding to nearest at the start, soft weights equal to W,
// gradients against finite differences, codes that dequantize to the weights), and
// compress_cbq on stories260K (determinism, hardened window losses below the round-to-
// nearest start, codes, activation bits, refusals).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "compress/cbq.hpp"
#include "compress/lora_rounding.hpp"
#include "nn/forward.hpp"
#include "nn/ops.hpp"
#include "nn/perplexity.hpp"
#include "hf_util.hpp"
#include "pipeline_fixture.hpp"

namespace surgeon::model {
namespace {

Backend& be() { return cpu_backend(2); }

Matrix random_input(int64_t rows, int64_t cols, unsigned seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    return hfio_test::random_matrix(rows, cols, rng, scale);
}

TEST(FakeQuantTokens, MatchesTheClosedForm) {
    // Row [-1, 0, 0.5, 3] at 2 bits: s = 4/3, z = round(0.75) = 1; x/s = -0.75, 0, 0.375, 2.25
    // round to -1, 0, 0, 2, codes 0, 1, 1, 3, values s·(code − 1) = -4/3, 0, 0, 8/3.
    Matrix m(2, 4);
    const float row0[] = {-1.0f, 0.0f, 0.5f, 3.0f}, row1[] = {2.0f, 2.0f, 2.0f, 2.0f};
    for (int j = 0; j < 4; ++j) m(0, j) = row0[j], m(1, j) = row1[j];
    ops::fake_quant_tokens(m, 2);
    const float s = 4.0f / 3.0f;
    EXPECT_FLOAT_EQ(m(0, 0), -s);
    EXPECT_FLOAT_EQ(m(0, 1), 0.0f);
    EXPECT_FLOAT_EQ(m(0, 2), 0.0f);
    EXPECT_FLOAT_EQ(m(0, 3), 2.0f * s);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(m(1, j), 2.0f);  // a constant row is kept
    Matrix same = m;
    ops::fake_quant_tokens(same, 0);
    hfio_test::expect_same_matrix(same, m, "bits 0");
    EXPECT_THROW(ops::fake_quant_tokens(m, 1), Error);
    EXPECT_THROW(ops::fake_quant_tokens(m, 17), Error);
}

TEST(FakeQuantTokens, ErrorIsHalfAStepPerToken) {
    Matrix m = random_input(7, 33, 5, 3.0f);
    const Matrix x = m;
    ops::fake_quant_tokens(m, 4);
    for (int64_t t = 0; t < x.rows; ++t) {
        float lo = x(t, 0), hi = x(t, 0);
        for (int64_t j = 0; j < x.cols; ++j) lo = std::min(lo, x(t, j)), hi = std::max(hi, x(t, j));
        const float step = (hi - lo) / 15.0f;
        for (int64_t j = 0; j < x.cols; ++j) EXPECT_LE(std::fabs(m(t, j) - x(t, j)), 0.5f * step * 1.0001f + 1e-6f);
    }
}

TEST(CbqWindowLoss, WeightGradientsMatchFiniteDifferences) {
    Model m = hfio_test::gradient_test_model(21);
    const Matrix x = random_input(9, 16, 3);
    const Matrix target = random_input(9, 16, 4);
    std::vector<std::vector<Matrix>> grads;
    const double loss = window_loss(be(), m.config, m.layers, x, target, 0.7, &grads);
    EXPECT_NEAR(loss, window_loss(be(), m.config, m.layers, x, target, 0.7, nullptr), 1e-9);
    std::mt19937 rng(8);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const double eps = 1e-3;
    for (size_t b = 0; b < m.layers.size(); ++b)
        for (size_t i = 0; i < std::size(kLinearNames); ++i) {
            Matrix& w = linear(m.layers[b], kLinearNames[i]);
            const Matrix& g = grads[b][i];
            ASSERT_EQ(g.rows, w.rows);
            ASSERT_EQ(g.cols, w.cols);
            Matrix d(w.rows, w.cols);
            for (float& v : d.data) v = normal(rng);
            double analytic = 0.0;
            for (size_t k = 0; k < d.data.size(); ++k) analytic += static_cast<double>(g.data[k]) * d.data[k];
            const Matrix saved = w;
            for (size_t k = 0; k < w.data.size(); ++k) w.data[k] = saved.data[k] + static_cast<float>(eps) * d.data[k];
            const double up = window_loss(be(), m.config, m.layers, x, target, 0.7, nullptr);
            for (size_t k = 0; k < w.data.size(); ++k) w.data[k] = saved.data[k] - static_cast<float>(eps) * d.data[k];
            const double down = window_loss(be(), m.config, m.layers, x, target, 0.7, nullptr);
            w = saved;
            const double numeric = (up - down) / (2.0 * eps);
            EXPECT_NEAR(analytic, numeric, 0.02 * std::abs(numeric) + 2e-4) << "block " << b << " " << kLinearNames[i];
        }
}

TEST(CbqWindowLoss, IsMsePlusKl) {
    // One token, two dims: out (0, 0), target (ln 3, 0): MSE = ln²3 / 2; p = (3/4, 1/4),
    // q = (1/2, 1/2), KL = 3/4·ln(3/2) + 1/4·ln(1/2).
    Matrix out(1, 2), target(1, 2);
    target(0, 0) = static_cast<float>(std::log(3.0));
    Matrix d;
    const double got = reconstruction_loss(out, target, 2.0, &d);
    const double l3 = static_cast<double>(static_cast<float>(std::log(3.0)));
    const double kl = 0.75 * std::log(1.5) + 0.25 * std::log(0.5);
    EXPECT_NEAR(got, l3 * l3 / 2.0 + 2.0 * kl, 1e-6);
    // d/dout: 2·(out − target)/2 + 2·(q − p).
    EXPECT_NEAR(d(0, 0), -l3 + 2.0 * (0.5 - 0.75), 1e-6);
    EXPECT_NEAR(d(0, 1), 0.0 + 2.0 * (0.5 - 0.25), 1e-6);
}

// Rows of random values in [-1, 1] with ±1.2 in the first two columns of every group:
// every other weight lies strictly inside its grid, away from the clamps.
Matrix grid_test_weights(int64_t rows, int64_t cols, int64_t group, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    Matrix w(rows, cols);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j) w(r, j) = j % group == 0 ? -1.2f : j % group == 1 ? 1.2f : u(rng);
    return w;
}

QuantConfig affine(int bits, int64_t group) {
    QuantConfig q;
    q.bits = bits;
    q.symmetric = false;
    q.group_size = group;
    return q;
}

TEST(LoraRounding, StartsAtRoundToNearestAndAtW) {
    const Matrix w = grid_test_weights(6, 32, 16, 1);
    const QuantConfig cfg = affine(3, 16);
    std::mt19937_64 rng(1);
    LoraRounding hard(w, cfg, 2, LoraRounding::Mode::straight_through, rng);
    LoraRounding soft(w, cfg, 2, LoraRounding::Mode::soft, rng);
    LoraRounding nearest(w, cfg, 2, LoraRounding::Mode::nearest, rng);
    const Matrix wh = hard.weights(be()), ws = soft.weights(be()), wn = nearest.weights(be());
    for (int64_t r = 0; r < w.rows; ++r)
        for (int64_t g = 0; g < 2; ++g) {
            const Grid grid = find_grid(w.row(r) + 16 * g, 16, 3, cfg);
            for (int64_t j = 16 * g; j < 16 * g + 16; ++j) {
                const float rtn = quantize_value(w(r, j), grid);
                EXPECT_EQ(wh(r, j), rtn) << r << "," << j;
                EXPECT_EQ(wn(r, j), rtn) << r << "," << j;
                // The group's extremes may be clamped by the rounded zero point.
                if (j % 16 >= 2) {
                    EXPECT_NEAR(ws(r, j), w(r, j), 1e-5f * grid.scale + 1e-6f) << r << "," << j;
                }
            }
        }
}

// ⟨C, Ŵ⟩ + reg, C zero on the clamped columns.
double probe_loss(LoraRounding& q, const Matrix& c, double reg, double beta) {
    const Matrix w = q.weights(be());
    double sum = 0.0;
    for (size_t k = 0; k < w.data.size(); ++k) sum += static_cast<double>(c.data[k]) * w.data[k];
    return sum + q.gradients(be(), Matrix(w.rows, w.cols), reg, beta).penalty;
}

TEST(LoraRounding, SoftGradientsMatchFiniteDifferences) {
    const int64_t group = 16;
    const Matrix w = grid_test_weights(5, 32, group, 2);
    std::mt19937_64 rng(3);
    LoraRounding q(w, affine(4, group), 3, LoraRounding::Mode::soft, rng);
    std::mt19937 r2(4);
    for (float& a : q.a2()) a = std::uniform_real_distribution<float>(-0.3f, 0.3f)(r2);
    for (float& u : q.u()) u = std::uniform_real_distribution<float>(-0.05f, 0.05f)(r2);
    Matrix c = random_input(5, 32, 6);
    for (int64_t r = 0; r < c.rows; ++r)
        for (int64_t j = 0; j < c.cols; ++j)
            if (j % group < 2) c(r, j) = 0.0f;
    const double reg = 0.3, beta = 4.0;
    (void)q.weights(be());
    const LoraRounding::Gradients g = q.gradients(be(), c, reg, beta);
    const double eps = 1e-3;
    auto check = [&](std::vector<float>& p, const std::vector<float>& grad, const char* what) {
        for (size_t k = 0; k < p.size(); k += 3) {
            const float saved = p[k];
            p[k] = saved + static_cast<float>(eps);
            const double up = probe_loss(q, c, reg, beta);
            p[k] = saved - static_cast<float>(eps);
            const double down = probe_loss(q, c, reg, beta);
            p[k] = saved;
            const double numeric = (up - down) / (2.0 * eps);
            EXPECT_NEAR(grad[k], numeric, 0.02 * std::abs(numeric) + 1e-3) << what << " " << k;
        }
    };
    check(q.a1(), g.a1, "a1");
    check(q.a2(), g.a2, "a2");
    check(q.u(), g.u, "u");
}

TEST(LoraRounding, HardenedCodesDequantizeToTheWeights) {
    const Matrix w = grid_test_weights(4, 40, 16, 7);  // groups of 16, 16, 8
    std::mt19937_64 rng(5);
    LoraRounding q(w, affine(2, 16), 2, LoraRounding::Mode::straight_through, rng);
    for (float& a : q.a2()) a = 0.4f;
    q.harden(be());
    ASSERT_TRUE(q.hard());
    const Matrix wq = q.weights(be());
    const QuantResult r = q.codes();
    EXPECT_EQ(r.groups, 3);
    for (uint8_t code : r.codes) EXPECT_LE(code, 3);
    Matrix back(4, 40);
    r.dequantize(back.data.data(), 40);
    hfio_test::expect_same_matrix(back, wq, "dequantized codes");
}

nlohmann::json cbq_options(int epochs) { return {{"epochs", epochs}, {"seed", 3}}; }

CbqReport run_cbq(Model& m, const std::string& recipe_json, const CbqOptions& o) {
    const Recipe recipe = Recipe::from_json(nlohmann::json::parse(recipe_json));
    return compress_cbq(m, pipeline_test::calibration(), recipe, o, pipeline_test::two_threads());
}

TEST(Cbq, DeterministicAndBetterThanItsStart) {
    CbqOptions o;
    o.apply(cbq_options(2));
    const char* recipe = R"({"default": {"method": "cbq", "bits": 2, "group": 32}})";
    Model a = pipeline_test::original(), b = pipeline_test::original();
    const CbqReport ra = run_cbq(a, recipe, o), rb = run_cbq(b, recipe, o);
    hfio_test::expect_same_model(a, b);
    ASSERT_EQ(ra.windows.size(), 4u);  // 5 blocks: [0,2) [1,3) [2,4) [3,5)
    EXPECT_EQ(ra.windows[3].first, 3);
    EXPECT_EQ(ra.windows[3].last, 5);
    EXPECT_EQ(ra.compression.layers.size(), 35u);
    // The start of training is rounding to nearest (epochs 0 measures it).
    CbqOptions none = o;
    none.epochs = 0;
    Model c = pipeline_test::original();
    const CbqReport rc = run_cbq(c, recipe, none);
    for (size_t k = 0; k < 4; ++k) {
        EXPECT_EQ(ra.windows[k].loss_hard, rb.windows[k].loss_hard);
        EXPECT_LT(ra.windows[k].loss_hard, 0.8 * rc.windows[k].loss_hard) << "window " << k;
    }
    // Every quantized weight is its codes' value.
    for (const CompressedLayer& l : ra.compression.layers) {
        ASSERT_TRUE(l.quant);
        int64_t block = 0;
        std::string name = l.name.substr(7);
        block = std::stoll(name.substr(0, name.find('.')));
        const Matrix& w = linear(a.layers[static_cast<size_t>(block)], name.substr(name.find('.') + 1));
        Matrix back(w.rows, w.cols);
        l.quant->dequantize(back.data.data(), w.cols);
        hfio_test::expect_same_matrix(back, w, l.name);
    }
}

TEST(Cbq, ActivationBitsAndDenseLayers) {
    CbqOptions o;
    o.apply({{"epochs", 1}, {"act_bits", 8}, {"window", 3}, {"overlap", 0}});
    Model m = pipeline_test::original();
    const CbqReport r =
        run_cbq(m, R"({"default": {"method": "cbq", "bits": 4}, "rules": [{"match": "*.w2", "method": "dense"}]})", o);
    EXPECT_EQ(m.config.act_bits, 8);
    ASSERT_EQ(r.windows.size(), 2u);  // [0,3) [3,5)
    EXPECT_EQ(r.compression.layers.size(), 30u);
    // Preprocessing folds scales into w2 (w3's rows scaled, w2's columns divided) without
    // truncating it; without it, w2 stays as it was.
    Model plain = pipeline_test::original();
    o.cfp = false;
    run_cbq(plain, R"({"default": {"method": "cbq", "bits": 4}, "rules": [{"match": "*.w2", "method": "dense"}]})", o);
    for (size_t b = 0; b < m.layers.size(); ++b) {
        hfio_test::expect_same_matrix(plain.layers[b].w2, pipeline_test::original().layers[b].w2, "dense w2");
        const auto& report = r.cfp[b];
        EXPECT_EQ(report["block"], static_cast<int64_t>(b));
        EXPECT_EQ(report["weights"]["w2"]["clamped"], 0) << report.dump();
    }
}

TEST(Cbq, Refusals) {
    CbqOptions o;
    EXPECT_THROW(o.apply({{"overlap", 2}}), Error);
    EXPECT_THROW(o.apply({{"windows", 2}}), Error);
    EXPECT_THROW(o.apply({{"act_bits", 1}}), Error);
    EXPECT_THROW(o.apply({{"act_bits", (int64_t{1} << 32) + 4}}), Error);  // not truncated to 4
    EXPECT_THROW(o.apply({{"epochs", 1.5}}), Error);
    Model m = pipeline_test::original();
    o = CbqOptions{};
    o.epochs = 0;
    hfio_test::expect_error(
        [&] { run_cbq(m, R"({"default": {"method": "cbq"}, "rules": [{"match": "*.wq", "method": "gptq"}]})", o); },
        SURGEON_ERR_INVALID_ARGUMENT, "gptq");
    hfio_test::expect_error([&] { run_cbq(m, R"({"default": {"method": "cbq", "act_order": true}})", o); },
                            SURGEON_ERR_INVALID_ARGUMENT, "act-order");
    Model qwen3 = hfio_test::random_model(16, 24, 2, 4, 2, 40, false, 2);
    qwen3.config.qk_norm = true;
    qwen3.config.family = "qwen3";
    for (LayerWeights& L : qwen3.layers) L.q_norm = L.k_norm = std::vector<float>(4, 1.0f);
    hfio_test::expect_error(
        [&] {
            compress_cbq(qwen3, {{1, 2, 3}}, Recipe::from_json({{"default", {{"method", "cbq"}}}}), o,
                         pipeline_test::two_threads());
        },
        SURGEON_ERR_UNSUPPORTED, "q/k norms");
    // The layer pipeline leaves cbq to compress_cbq.
    hfio_test::expect_error(
        [&] {
            compress_model(m, pipeline_test::calibration(), Recipe::from_json({{"default", {{"method", "cbq"}}}}),
                           pipeline_test::two_threads());
        },
        SURGEON_ERR_INVALID_ARGUMENT, "compress_cbq");
}

}  // namespace
}  // namespace surgeon::model
