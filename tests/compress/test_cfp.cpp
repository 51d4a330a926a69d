// Coarse-to-fine outlier preprocessing: the two-stage outlier split on hand-computed sets
// and degenerate ones; on a small random block with injected outlier channels, the folds
// find the injected channels, bring every channel maximum down to its site's threshold and
// leave the block output unchanged; weight truncation clamps exactly the outliers; two runs
// agree bit for bit; Mixture-of-Experts and q/k-norm blocks are refused; on stories260K
// the folds keep the logits.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "compress/cfp.hpp"
#include "core/context.hpp"
#include "hf_util.hpp"
#include "pipeline_fixture.hpp"

using namespace surgeon;
using namespace surgeon::model;
using namespace hfio_test;

namespace {

TEST(CfpOutliers, HandComputedExample) {
    // 1..20 plus {40, 100, 105}: n = 23 sorted values x[0..22].
    // Q1 at position 0.25·22 = 5.5: (x[5] + x[6]) / 2 = (6 + 7) / 2 = 6.5.
    // Q3 at position 0.75·22 = 16.5: (x[16] + x[17]) / 2 = (17 + 18) / 2 = 17.5.
    // IQR = 11, T = 17.5 + 1.5·11 = 34: candidates {40, 100, 105}; the rest also holds T = 34.
    // Cut below 40:  top {40, 100, 105} (mean 81.67, var 872.2), rest {34}: 47.67² − 872.2 = 1399.9.
    // Cut below 100: top {100, 105} (mean 102.5, var 6.25), rest {34, 40} (mean 37, var 9):
    //                65.5² − 15.25 = 4275.
    // Cut below 105: top {105}, rest {34, 40, 100} (mean 58, var 888): 47² − 888 = 1321.
    // The best cut makes 100 and 105 the outliers; the fine threshold is 40.
    std::vector<float> v;
    for (int i = 1; i <= 20; ++i) v.push_back(static_cast<float>(i));
    v.insert(v.begin() + 7, {100.0f, 40.0f, 105.0f});  // the order of the input does not matter
    const OutlierSplit s = find_outliers(v);
    EXPECT_DOUBLE_EQ(s.coarse_threshold, 34.0);
    EXPECT_EQ(s.coarse, 3);
    EXPECT_EQ(s.fine, 2);
    EXPECT_EQ(s.fine_threshold, 40.0);

    // k = 0: T = Q3 = 17.5, candidates 18, 19, 20, 40, 100, 105; the split still isolates {100, 105}.
    const OutlierSplit s0 = find_outliers(v, 0.0);
    EXPECT_DOUBLE_EQ(s0.coarse_threshold, 17.5);
    EXPECT_EQ(s0.coarse, 6);
    EXPECT_EQ(s0.fine, 2);
    EXPECT_EQ(s0.fine_threshold, 40.0);
}

TEST(CfpOutliers, OneCandidateIsAnOutlierAtTheCoarseThreshold) {
    // 1..20 plus {100}: n = 21, Q1 = x[5] = 6, Q3 = x[15] = 16, T = 16 + 1.5·10 = 31.
    std::vector<float> v;
    for (int i = 1; i <= 20; ++i) v.push_back(static_cast<float>(i));
    v.push_back(100.0f);
    const OutlierSplit s = find_outliers(v);
    EXPECT_DOUBLE_EQ(s.coarse_threshold, 31.0);
    EXPECT_EQ(s.coarse, 1);
    EXPECT_EQ(s.fine, 1);
    EXPECT_DOUBLE_EQ(s.fine_threshold, 31.0);
}

TEST(CfpOutliers, EqualCandidatesAreNeverSeparated) {
    // 1..20 plus {100, 100}: n = 22, Q1 at 5.25: 6.25, Q3 at 15.75: 16.75, T = 16.75 + 1.5·10.5 = 32.5.
    std::vector<float> v;
    for (int i = 1; i <= 20; ++i) v.push_back(static_cast<float>(i));
    v.push_back(100.0f);
    v.push_back(100.0f);
    const OutlierSplit s = find_outliers(v);
    EXPECT_DOUBLE_EQ(s.coarse_threshold, 32.5);
    EXPECT_EQ(s.coarse, 2);
    EXPECT_EQ(s.fine, 2);
    EXPECT_DOUBLE_EQ(s.fine_threshold, 32.5);
}

TEST(CfpOutliers, UniformAndDegenerateSets) {
    // 1..100: Q1 = 25.75, Q3 = 75.25, T = 75.25 + 1.5·49.5 = 149.5: nothing above it.
    std::vector<float> v;
    for (int i = 1; i <= 100; ++i) v.push_back(static_cast<float>(i));
    OutlierSplit s = find_outliers(v);
    EXPECT_DOUBLE_EQ(s.coarse_threshold, 149.5);
    EXPECT_EQ(s.coarse, 0);
    EXPECT_EQ(s.fine, 0);
    EXPECT_EQ(s.fine_threshold, 100.0);

    s = find_outliers({});
    EXPECT_EQ(s.coarse_threshold, 0.0);
    EXPECT_EQ(s.fine_threshold, 0.0);
    EXPECT_EQ(s.coarse, 0);
    EXPECT_EQ(s.fine, 0);

    s = find_outliers({2.5f, 2.5f, 2.5f, 2.5f});
    EXPECT_EQ(s.coarse_threshold, 2.5);
    EXPECT_EQ(s.fine_threshold, 2.5);
    EXPECT_EQ(s.coarse, 0);

    s = find_outliers({7.0f});
    EXPECT_EQ(s.coarse_threshold, 7.0);
    EXPECT_EQ(s.fine_threshold, 7.0);
    EXPECT_EQ(s.fine, 0);

    s = find_outliers({0.0f, 0.0f, 0.0f});
    EXPECT_EQ(s.fine_threshold, 0.0);
    EXPECT_EQ(s.fine, 0);

    EXPECT_THROW(find_outliers({1.0f, -1.0f}), Error);
    EXPECT_THROW(find_outliers({1.0f, std::numeric_limits<float>::quiet_NaN()}), Error);
    EXPECT_THROW(find_outliers({1.0f, std::numeric_limits<float>::infinity()}), Error);
    EXPECT_THROW(find_outliers({1.0f}, -1.0), Error);
}

// A random plain-Llama block (dim 32, 4 heads, 2 kv heads, FFN 64) with one injected outlier
// channel per site, and three calibration inputs.
struct Block {
    Model model = random_model(32, 64, 1, 4, 2, 16, true, 11);
    std::vector<Matrix> xs;
    static constexpr int64_t kAttnIn = 3, kV = 13, kFfnIn = 10, kDown = 7;

    Block() {
        LayerWeights& L = layer();
        L.rms_att[kAttnIn] *= 50.0f;
        for (int64_t c = 0; c < L.wv.cols; ++c) L.wv(kV, c) *= 30.0f;  // v channel (group 1, d 5): head size 8
        L.rms_ffn[kFfnIn] *= 50.0f;
        for (int64_t c = 0; c < L.w3.cols; ++c) L.w3(kDown, c) *= 40.0f;
        std::mt19937 rng(5);
        for (int i = 0; i < 3; ++i) xs.push_back(random_matrix(9 + i, 32, rng, 1.0f));
    }
    LayerWeights& layer() { return model.layers[0]; }
    const ModelConfig& config() const { return model.config; }
};

// Per-channel max |value| of every site over the inputs.
std::vector<std::vector<float>> site_maxima(Backend& be, const ModelConfig& config, const LayerWeights& L,
                                            const std::vector<Matrix>& xs) {
    std::vector<std::vector<float>> out(kLinearInputs);
    for (const Matrix& x : xs) {
        BlockCapture c;
        block_forward(be, config, L, x, &c);
        for (int s = 0; s < kLinearInputs; ++s) {
            const Matrix& a = captured(c, static_cast<LinearInput>(s));
            out[s].resize(static_cast<size_t>(a.cols), 0.0f);
            for (int64_t t = 0; t < a.rows; ++t)
                for (int64_t j = 0; j < a.cols; ++j) out[s][j] = std::max(out[s][j], std::fabs(a(t, j)));
        }
    }
    return out;
}

double max_rel_diff(const std::vector<Matrix>& a, const std::vector<Matrix>& b) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < a.size(); ++i)
        for (size_t j = 0; j < a[i].data.size(); ++j) {
            diff = std::max(diff, std::fabs(static_cast<double>(a[i].data[j]) - b[i].data[j]));
            scale = std::max(scale, std::fabs(static_cast<double>(b[i].data[j])));
        }
    return diff / scale;
}

std::vector<Matrix> outputs(Backend& be, const ModelConfig& config, const LayerWeights& L,
                            const std::vector<Matrix>& xs) {
    std::vector<Matrix> out;
    for (const Matrix& x : xs) out.push_back(block_forward(be, config, L, x));
    return out;
}

TEST(CfpBlock, ActivationFoldsFindInjectedChannelsAndKeepTheOutput) {
    Context ctx;
    Backend& be = backend_for(ctx);
    Block b;
    const LayerWeights before = b.layer();
    const auto want = outputs(be, b.config(), before, b.xs);
    const auto max_before = site_maxima(be, b.config(), before, b.xs);

    CfpOptions opt;
    opt.weights = false;
    const CfpBlockReport r = cfp_block(be, b.config(), b.layer(), b.xs, opt);
    EXPECT_EQ(r.weight_outliers, 0);

    const auto got = outputs(be, b.config(), b.layer(), b.xs);
    EXPECT_LT(max_rel_diff(got, want), 1e-5);

    // The injected channels were outliers of their site before, above the threshold (far above
    // it but at down_in, whose maxima the injected ffn_in channel spreads over a wide range).
    const int64_t hs = b.config().head_size();
    EXPECT_GT(max_before[0][Block::kAttnIn], 5 * r.act_threshold[0]);
    // v channel 13 = (group 1, d 5) reaches wo through heads 2 and 3.
    EXPECT_GT(max_before[1][2 * hs + 5], 5 * r.act_threshold[1]);
    EXPECT_GT(max_before[2][Block::kFfnIn], 5 * r.act_threshold[2]);
    EXPECT_GT(max_before[3][Block::kDown], 1.5 * r.act_threshold[3]);
    // On this block the injected channel is the only outlier of each site.
    for (int s = 0; s < kLinearInputs; ++s) {
        EXPECT_EQ(r.act_channels[s], 1) << s;
        EXPECT_GT(r.act_threshold[s], 0.0) << s;
    }

    // Every channel of every site now peaks at or below the site's threshold.
    const auto max_after = site_maxima(be, b.config(), b.layer(), b.xs);
    for (int s = 0; s < kLinearInputs; ++s)
        for (size_t j = 0; j < max_after[s].size(); ++j)
            EXPECT_LE(max_after[s][j], r.act_threshold[s] * (1 + 1e-5)) << "site " << s << " channel " << j;
    // The injected channels sit at the threshold (they were scaled to it).
    EXPECT_NEAR(max_after[0][Block::kAttnIn], r.act_threshold[0], 1e-5 * r.act_threshold[0]);
    EXPECT_NEAR(std::max(max_after[1][2 * hs + 5], max_after[1][3 * hs + 5]), r.act_threshold[1],
                1e-5 * r.act_threshold[1]);
    EXPECT_NEAR(max_after[2][Block::kFfnIn], r.act_threshold[2], 1e-5 * r.act_threshold[2]);
    EXPECT_NEAR(max_after[3][Block::kDown], r.act_threshold[3], 1e-5 * r.act_threshold[3]);

    // The folds touched the named parts: gains and w3's injected row shrank, wo's columns of
    // heads 2 and 3 at d 5 grew by the inverse of wv row 21's scale.
    const LayerWeights& L = b.layer();
    EXPECT_LT(L.rms_att[Block::kAttnIn], before.rms_att[Block::kAttnIn] * 0.2f);
    EXPECT_LT(L.rms_ffn[Block::kFfnIn], before.rms_ffn[Block::kFfnIn] * 0.2f);
    // wv(kV, 0) = before · sv / s0, s0 the attn_in scale of column 0.
    const float s0 = L.rms_att[0] / before.rms_att[0];
    const float sv = L.wv(Block::kV, 0) * s0 / before.wv(Block::kV, 0);
    EXPECT_LT(sv, 0.2f);
    for (int64_t h : {2, 3})
        EXPECT_NEAR(L.wo(0, h * hs + 5) * sv, before.wo(0, h * hs + 5), 1e-5f * std::fabs(before.wo(0, h * hs + 5)));
    EXPECT_EQ(r.to_json()["activations"]["attn_in"]["channels"], r.act_channels[0]);
}

// The float a weight outlier is clamped to: the threshold rounded towards 0.
float clamp_value(double threshold) {
    float c = static_cast<float>(threshold);
    if (static_cast<double>(c) > threshold) c = std::nextafter(c, 0.0f);
    return c;
}

TEST(CfpBlock, WeightTruncationClampsExactlyTheOutliers) {
    Context ctx;
    Backend& be = backend_for(ctx);
    Block b;
    b.layer().wq(2, 3) = 25.0f;
    b.layer().w2(4, 9) = -40.0f;
    const LayerWeights before = b.layer();

    CfpOptions opt;
    opt.activations = false;
    const CfpBlockReport r = cfp_block(be, b.config(), b.layer(), b.xs, opt);
    int64_t total = 0;
    for (int l = 0; l < 7; ++l) {
        const Matrix& w0 = linear(before, kLinearNames[l]);
        const Matrix& w = linear(b.layer(), kLinearNames[l]);
        std::vector<float> mags;
        for (float x : w0.data) mags.push_back(std::fabs(x));
        const OutlierSplit split = find_outliers(mags);
        EXPECT_EQ(r.weight_threshold[l], split.fine_threshold) << kLinearNames[l];
        EXPECT_EQ(r.weight_clamped[l], split.fine) << kLinearNames[l];
        total += r.weight_clamped[l];
        int64_t changed = 0;
        for (size_t i = 0; i < w.data.size(); ++i) {
            EXPECT_LE(std::fabs(w.data[i]), r.weight_threshold[l]) << kLinearNames[l] << " " << i;
            if (std::fabs(w0.data[i]) > split.fine_threshold) {
                ++changed;
                EXPECT_EQ(w.data[i], std::copysign(clamp_value(split.fine_threshold), w0.data[i]));
            } else {
                EXPECT_EQ(w.data[i], w0.data[i]);
            }
        }
        EXPECT_EQ(changed, r.weight_clamped[l]);
    }
    EXPECT_EQ(r.weight_outliers, total);
    EXPECT_GE(r.weight_clamped[0], 1);
    EXPECT_LT(r.weight_threshold[0], 1.0);
    EXPECT_EQ(b.layer().wq(2, 3), clamp_value(r.weight_threshold[0]));
    EXPECT_EQ(b.layer().w2(4, 9), -clamp_value(r.weight_threshold[5]));
    EXPECT_LT(r.weight_threshold[5], 1.0);
    // Norm gains are not weights of a linear: untouched.
    EXPECT_EQ(b.layer().rms_att, before.rms_att);
}

TEST(CfpBlock, LinearsLeftOutOfTruncationStayWhole) {
    Context ctx;
    Backend& be = backend_for(ctx);
    Block b;
    b.layer().wq(2, 3) = 25.0f;
    b.layer().w2(4, 9) = -40.0f;
    const LayerWeights before = b.layer();
    CfpOptions opt;
    opt.activations = false;
    opt.truncate[5] = false;  // w2
    const CfpBlockReport r = cfp_block(be, b.config(), b.layer(), b.xs, opt);
    EXPECT_EQ(b.layer().w2.data, before.w2.data);
    EXPECT_EQ(r.weight_clamped[5], 0);
    EXPECT_EQ(b.layer().wq(2, 3), clamp_value(r.weight_threshold[0]));
}

TEST(CfpBlock, BothStagesBoundEveryWeightAndAreDeterministic) {
    Context ctx;
    Backend& be = backend_for(ctx);
    Block b1, b2;
    b1.layer().wq(2, 3) = 25.0f;
    b2.layer().wq(2, 3) = 25.0f;
    const CfpBlockReport r1 = cfp_block(be, b1.config(), b1.layer(), b1.xs, {});
    const CfpBlockReport r2 = cfp_block(be, b2.config(), b2.layer(), b2.xs, {});
    EXPECT_EQ(r1.to_json(), r2.to_json());
    for (int l = 0; l < 7; ++l) {
        const Matrix& w = linear(b1.layer(), kLinearNames[l]);
        for (float x : w.data) EXPECT_LE(std::fabs(x), r1.weight_threshold[l]) << kLinearNames[l];
        expect_same_matrix(w, linear(b2.layer(), kLinearNames[l]), kLinearNames[l]);
    }
    expect_same_vector(b1.layer().rms_att, b2.layer().rms_att, "rms_att");
    expect_same_vector(b1.layer().rms_ffn, b2.layer().rms_ffn, "rms_ffn");
    for (int s = 0; s < kLinearInputs; ++s) EXPECT_GE(r1.act_channels[s], 1);
    EXPECT_GE(r1.weight_clamped[0], 1);
}

TEST(CfpBlock, VBiasIsScaledWithItsRow) {
    Context ctx;
    Backend& be = backend_for(ctx);
    Block b;
    ModelConfig config = b.config();
    config.qkv_bias = true;
    std::mt19937 rng(3);
    LayerWeights& L = b.layer();
    L.bq = random_vector(config.q_dim(), rng);
    L.bk = random_vector(config.kv_dim(), rng);
    L.bv = random_vector(config.kv_dim(), rng);
    L.bv[Block::kV] = 20.0f;
    const LayerWeights before = L;
    const auto want = outputs(be, config, before, b.xs);
    CfpOptions opt;
    opt.weights = false;
    const CfpBlockReport r = cfp_block(be, config, L, b.xs, opt);
    EXPECT_GE(r.act_channels[1], 1);
    EXPECT_LT(L.bv[Block::kV], 20.0f * 0.2f);
    EXPECT_LT(max_rel_diff(outputs(be, config, L, b.xs), want), 1e-5);
    const auto after = site_maxima(be, config, L, b.xs);
    for (float m : after[1]) EXPECT_LE(m, r.act_threshold[1] * (1 + 1e-5));
}

TEST(CfpBlock, RefusesMoeAndQkNormBlocksAndBadInputs) {
    Context ctx;
    Backend& be = backend_for(ctx);
    Block b;
    auto status_of = [&](const ModelConfig& config, const std::vector<Matrix>& xs, const CfpOptions& opt) {
        try {
            LayerWeights L = b.layer();
            cfp_block(be, config, L, xs, opt);
        } catch (const Error& e) {
            return e.status();
        }
        return SURGEON_OK;
    };
    ModelConfig qk = b.config();
    qk.qk_norm = true;
    EXPECT_EQ(status_of(qk, b.xs, {}), SURGEON_ERR_UNSUPPORTED);
    ModelConfig moe = b.config();
    moe.moe.n_experts = 2;
    moe.moe.top_k = 1;
    moe.moe.expert_dim = 16;
    EXPECT_EQ(status_of(moe, b.xs, {}), SURGEON_ERR_UNSUPPORTED);
    EXPECT_EQ(status_of(b.config(), {}, {}), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status_of(b.config(), {Matrix(4, 31)}, {}), SURGEON_ERR_SHAPE);
    CfpOptions weights_only;
    weights_only.activations = false;
    EXPECT_EQ(status_of(b.config(), {}, weights_only), SURGEON_OK);
}

TEST(CfpBlock, ZeroChannelsAreNeverScaled) {
    Context ctx;
    Backend& be = backend_for(ctx);
    Block b;
    LayerWeights& L = b.layer();
    for (int64_t c = 0; c < L.w1.cols; ++c) L.w3(11, c) = 0.0f;  // down_in channel 11 is 0 everywhere
    const LayerWeights before = L;
    CfpOptions opt;
    opt.weights = false;
    cfp_block(be, b.config(), L, b.xs, opt);
    for (int64_t r = 0; r < L.w2.rows; ++r) EXPECT_EQ(L.w2(r, 11), before.w2(r, 11));
    for (float x : L.w3.data) EXPECT_TRUE(std::isfinite(x));
    for (float x : L.w2.data) EXPECT_TRUE(std::isfinite(x));
}

}  // namespace

namespace {

// The activation folds on every block of stories260K, each on the calibration inputs the
// folded model gives it, leave the model's logits unchanged to 1e-5 (relative to the
// largest logit).
TEST(CfpModel, ActivationFoldsKeepTheLogitsOfStories260K) {
    const Model& original = pipeline_test::original();
    Model m = original;
    Backend& be = cpu_backend(2);
    std::vector<Matrix> xs;
    for (const auto& seq : pipeline_test::calibration()) xs.push_back(embed(m, seq));
    CfpOptions opt;
    opt.weights = false;
    int64_t scaled = 0;
    for (LayerWeights& L : m.layers) {
        const CfpBlockReport r = cfp_block(be, m.config, L, xs, opt);
        for (int64_t c : r.act_channels) scaled += c;
        for (Matrix& x : xs) x = block_forward(be, m.config, L, x);
    }
    EXPECT_GT(scaled, 0);  // the folds did something
    const std::vector<int> tokens = pipeline_test::calibration()[3];
    const Matrix a = forward(be, original, tokens), b = forward(be, m, tokens);
    double worst = 0.0, scale = 0.0;
    for (size_t k = 0; k < a.data.size(); ++k) {
        worst = std::max(worst, static_cast<double>(std::fabs(a.data[k] - b.data[k])));
        scale = std::max(scale, static_cast<double>(std::fabs(a.data[k])));
    }
    EXPECT_LT(worst, 1e-5 * scale) << worst << " of " << scale;
}

}  // namespace
