#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <cstdio>
#include <random>
#include <string>

#include "core/error.hpp"
#include "structured/ffn_slice.hpp"
#include "structured/prunenet.hpp"
#include "structured/spectral.hpp"

namespace surgeon::structured {
namespace {

Matrix random_matrix(int64_t rows, int64_t cols, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, 1.0f);
    Matrix m(rows, cols);
    for (float& v : m.data) v = g(rng);
    return m;
}

model::LayerWeights random_ffn(int64_t dim, int64_t hidden, unsigned seed) {
    model::LayerWeights l;
    l.w1 = random_matrix(hidden, dim, seed);
    l.w3 = random_matrix(hidden, dim, seed + 1);
    l.w2 = random_matrix(dim, hidden, seed + 2);
    // Neurons of very different scales, so that a good policy has something to find.
    for (int64_t i = 0; i < hidden; ++i) {
        const float s = 0.2f + 2.0f * static_cast<float>(i % 7) / 7.0f;
        for (int64_t c = 0; c < dim; ++c) {
            l.w1(i, c) *= s;
            l.w3(i, c) *= s;
        }
    }
    return l;
}

std::vector<float> ffn(const model::LayerWeights& l, const std::vector<float>& x) {
    const int64_t hidden = l.w1.rows, dim = l.w1.cols;
    std::vector<float> act(static_cast<size_t>(hidden)), y(static_cast<size_t>(dim), 0.0f);
    for (int64_t i = 0; i < hidden; ++i) {
        double g = 0, u = 0;
        for (int64_t c = 0; c < dim; ++c) {
            g += l.w1(i, c) * x[c];
            u += l.w3(i, c) * x[c];
        }
        act[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * u);
    }
    for (int64_t r = 0; r < dim; ++r)
        for (int64_t i = 0; i < hidden; ++i) y[r] += l.w2(r, i) * act[i];
    return y;
}

TEST(KsDistance, ClosedForms) {
    EXPECT_DOUBLE_EQ(ks_distance({1, 2, 3}, {1, 2, 3}), 0.0);
    EXPECT_DOUBLE_EQ(ks_distance({1, 2}, {3, 4}), 1.0);  // disjoint supports
    // F_a jumps to 1/2 at 1 while F_b is 0 until 2: sup = 1/2.
    EXPECT_DOUBLE_EQ(ks_distance({1, 3}, {2, 4}), 0.5);
    // Different sizes: a = {1,2,3,4}, b = {2}: at x = 1, F_a = 1/4, F_b = 0; at 2: 1/2 vs 1.
    EXPECT_DOUBLE_EQ(ks_distance({1, 2, 3, 4}, {2}), 0.5);
    EXPECT_DOUBLE_EQ(ks_distance({5, 5, 5}, {5}), 0.0);  // ties
    EXPECT_THROW(ks_distance({}, {1}), Error);
}

TEST(Spectral, SingularValuesOfAKnownMatrix) {
    Matrix a(3, 2);
    a(0, 0) = 3.0f;
    a(1, 1) = -4.0f;  // singular values 4 and 3
    const auto s = singular_values(cpu_backend(2), a);
    ASSERT_EQ(s.size(), 2u);
    EXPECT_NEAR(s[0], 4.0f, 1e-5f);
    EXPECT_NEAR(s[1], 3.0f, 1e-5f);
    EXPECT_DOUBLE_EQ(spectral_distance(cpu_backend(2), a, a), 0.0);
}

TEST(Slice, RemovingZeroNeuronsKeepsTheFfnOutput) {
    model::LayerWeights l = random_ffn(16, 40, 3);
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < 40; ++i) {
        if (i % 3 == 0) {  // neuron i contributes nothing: zero its down column
            for (int64_t r = 0; r < 16; ++r) l.w2(r, i) = 0.0f;
        } else {
            keep.push_back(i);
        }
    }
    const Matrix xm = random_matrix(1, 16, 4);
    const std::vector<float> x(xm.data.begin(), xm.data.end());
    const auto before = ffn(l, x);
    model::LayerWeights sliced = l;
    slice_ffn(sliced, keep);
    EXPECT_EQ(sliced.w1.rows, static_cast<int64_t>(keep.size()));
    EXPECT_EQ(sliced.w2.cols, static_cast<int64_t>(keep.size()));
    const auto after = ffn(sliced, x);
    for (size_t i = 0; i < before.size(); ++i) EXPECT_NEAR(after[i], before[i], 1e-4f * (1 + std::fabs(before[i])));
    EXPECT_THROW(slice_ffn(sliced, {5, 2}), Error);  // not ascending
}

TEST(Slice, TopKKeepsTheLargestScoresInOrder) {
    const auto keep = top_k_indices({0.1f, 0.9f, 0.5f, 0.9f, 0.2f}, 3);
    EXPECT_EQ(keep, (std::vector<int64_t>{1, 2, 3}));
}

model::Model tiny_model(int blocks) {
    model::Model m;
    m.config.dim = 16;
    m.config.hidden_dim = 48;
    m.config.n_layers = blocks;
    for (int b = 0; b < blocks; ++b) m.layers.push_back(random_ffn(16, 48, 10 + 3 * b));
    return m;
}

TEST(PruneNet, TrainingIsDeterministicAndPoliciesRoundTrip) {
    const model::Model m = tiny_model(2);
    TrainOptions o;
    o.steps = 20;
    o.ratio = 0.3;
    Context ctx;
    const Policy a = train_policy(m, o, ctx), b = train_policy(m, o, ctx);
    EXPECT_EQ(a.params, b.params);
    const std::string path = ::testing::TempDir() + "policy.json";
    a.save(path);
    const Policy c = Policy::load(path);
    EXPECT_EQ(c.params, a.params);
    EXPECT_EQ(c.scores(m.layers[0]), a.scores(m.layers[0]));
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("{\"format\": \"surgeon-prunenet-policy\", \"version\": 1, \"dim\": 16}", f);
    std::fclose(f);
    EXPECT_THROW(Policy::load(path), Error);
}

// Dimensions whose parameter count features · (2 dim + 1) + kNormFeatures + 1 overflows
// int64 (to the length given, when wrapped) or that do not fit their types are refused.
TEST(PruneNet, PolicyWithOverflowingDimensionsIsAnIoError) {
    const std::string path = ::testing::TempDir() + "policy_overflow.json";
    auto load_with = [&](int64_t dim, int64_t features, size_t params) {
        std::FILE* f = std::fopen(path.c_str(), "w");
        std::string params_text;
        for (size_t i = 0; i < params; ++i) params_text += (i ? ", 0.5" : "0.5");
        const std::string text = "{\"format\": \"surgeon-prunenet-policy\", \"version\": 2, \"dim\": " +
                                 std::to_string(dim) + ", \"features\": " + std::to_string(features) +
                                 ", \"params\": [" + params_text + "]}";
        std::fputs(text.c_str(), f);
        std::fclose(f);
        try {
            Policy::load(path);
            ADD_FAILURE() << "dim " << dim << ", features " << features << " loaded";
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), SURGEON_ERR_IO) << e.what();
        }
    };
    // 2 · 2 · 2^62 wraps to 0: the count would read 2 + kNormFeatures + 1.
    load_with(int64_t{1} << 62, 2, 2 + kNormFeatures + 1);
    // 2 · (2^63 − 1) wraps to −2: the count would read −2 + 1 + kNormFeatures + 1 = 3.
    load_with(INT64_MAX, 1, kNormFeatures);
    // features beyond int (2^32 + 1 would truncate to 1): the count of features = 1, dim = 1.
    load_with(1, (int64_t{1} << 32) + 1, 2 + 1 + kNormFeatures + 1);
    load_with(1, 1, 0);
    // The smallest consistent policy loads.
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("{\"format\": \"surgeon-prunenet-policy\", \"version\": 2, \"dim\": 1, \"features\": 1, "
               "\"params\": [1, 2, 3, 4, 5, 6, 7]}",
               f);
    std::fclose(f);
    EXPECT_EQ(Policy::load(path).params.size(), 7u);  // 1 · (2 · 1 + 1) + 3 + 1
    // Dimensions and the version must be JSON integers: a float (1.5, 2e125, found by
    // fuzz_prunenet) is refused, not converted.
    for (const char* bad : {R"("dim": 1.5, "features": 1)", R"("dim": 2e125, "features": 1)",
                            R"("dim": 1, "features": 1e30)", R"("dim": 1, "features": "1")"}) {
        f = std::fopen(path.c_str(), "w");
        const std::string text = std::string("{\"format\": \"surgeon-prunenet-policy\", \"version\": 2, ") + bad +
                                 ", \"params\": [1, 2, 3, 4, 5, 6, 7]}";
        std::fputs(text.c_str(), f);
        std::fclose(f);
        try {
            Policy::load(path);
            ADD_FAILURE() << bad << " loaded";
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), SURGEON_ERR_IO) << e.what();
        }
    }
    f = std::fopen(path.c_str(), "w");
    std::fputs("{\"format\": \"surgeon-prunenet-policy\", \"version\": 2e200, \"dim\": 1, \"features\": 1, "
               "\"params\": [1, 2, 3, 4, 5, 6, 7]}",
               f);
    std::fclose(f);
    EXPECT_THROW(Policy::load(path), Error);
    std::remove(path.c_str());
}

TEST(PruneNet, TrainingImprovesTheSpectralReward) {
    const model::Model m = tiny_model(3);
    TrainOptions o;
    o.steps = 120;
    o.ratio = 0.4;
    o.anchor = 0.0;  // free optimisation of the KS reward (the anchor is tested below)
    Context ctx;
    TrainReport report;
    const Policy p = train_policy(m, o, ctx, &report);
    ASSERT_EQ(report.mean_reward.size(), 120u);
    auto mean = [&](size_t from, size_t to) {
        double s = 0;
        for (size_t i = from; i < to; ++i) s += report.mean_reward[i];
        return s / static_cast<double>(to - from);
    };
    EXPECT_GT(mean(90, 120), mean(0, 30));
    // The trained deterministic selection beats random selections on average.
    double trained = 0, random = 0;
    for (const auto& layer : m.layers) {
        const int64_t keep = kept_neurons(layer.w1.rows, o.ratio);
        trained += selection_reward(cpu_backend(2), layer, top_k_indices(p.scores(layer), keep));
        for (uint64_t s = 0; s < 10; ++s)
            random += selection_reward(cpu_backend(2), layer, top_k_indices(random_scores(layer.w1.rows, s), keep)) / 10;
    }
    EXPECT_GT(trained, random);
}

// Fraction of a block's kept neurons that the prior ranking log‖gate_i‖ + log‖up_i‖ also keeps.
double overlap_with_prior(const model::LayerWeights& l, const Policy& p, double ratio) {
    std::vector<float> prior(static_cast<size_t>(l.w1.rows));
    for (int64_t i = 0; i < l.w1.rows; ++i) {
        double g = 0, u = 0;
        for (int64_t c = 0; c < l.w1.cols; ++c) g += l.w1(i, c) * l.w1(i, c), u += l.w3(i, c) * l.w3(i, c);
        prior[i] = static_cast<float>(std::log(g) + std::log(u));
    }
    const int64_t k = kept_neurons(l.w1.rows, ratio);
    const auto a = top_k_indices(prior, k), b = top_k_indices(p.scores(l), k);
    std::vector<int64_t> both;
    std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(both));
    return static_cast<double>(both.size()) / static_cast<double>(k);
}

TEST(PruneNet, QuietStartIsThePriorAndTheAnchorKeepsThePolicyNearIt) {
    const model::Model m = tiny_model(3);
    TrainOptions o;
    o.ratio = 0.4;
    Context ctx;
    // One step at a vanishing learning rate: the quiet start ranks exactly like the prior,
    // whatever the seed.
    o.steps = 1;
    o.learning_rate = 1e-12;
    for (uint64_t seed : {1u, 7u}) {
        o.seed = seed;
        for (const auto& layer : m.layers) EXPECT_DOUBLE_EQ(overlap_with_prior(layer, train_policy(m, o, ctx), 0.4), 1.0);
    }
    // Free KS optimisation drifts away from the prior; the KL anchor holds it closer.
    o.steps = 120;
    o.learning_rate = 0.05;
    o.seed = 3;
    double free_overlap = 0, anchored_overlap = 0;
    o.anchor = 0.0;
    const Policy free_policy = train_policy(m, o, ctx);
    o.anchor = 3000.0;
    const Policy anchored = train_policy(m, o, ctx);
    for (const auto& layer : m.layers) {
        free_overlap += overlap_with_prior(layer, free_policy, 0.4);
        anchored_overlap += overlap_with_prior(layer, anchored, 0.4);
    }
    EXPECT_GT(anchored_overlap, free_overlap);
}

TEST(PruneNet, RestartsKeepTheBestTrainingRewardAndAreDeterministic) {
    const model::Model m = tiny_model(2);
    TrainOptions o;
    o.steps = 20;
    o.restarts = 3;
    Context ctx;
    TrainReport report;
    const Policy p = train_policy(m, o, ctx, &report);
    ASSERT_EQ(report.final_reward.size(), 3u);
    EXPECT_EQ(*std::max_element(report.final_reward.begin(), report.final_reward.end()),
              report.final_reward[static_cast<size_t>(report.chosen)]);
    EXPECT_DOUBLE_EQ(policy_reward(cpu_backend(2), m, p, o.ratio, o.reward), report.final_reward[static_cast<size_t>(report.chosen)]);
    EXPECT_EQ(train_policy(m, o, ctx).params, p.params);
    // Restart r of seed s is the single run of seed s + r·1000003.
    TrainOptions single = o;
    single.restarts = 1;
    single.seed = o.seed + 1000003ull * static_cast<uint64_t>(report.chosen);
    EXPECT_EQ(train_policy(m, single, ctx).params, p.params);
}

TEST(PruneNet, RewardVariantsAreZeroWithoutPruningAndNegativeWithIt) {
    const model::Model m = tiny_model(1);
    const auto& layer = m.layers[0];
    std::vector<int64_t> all(48), half;
    for (int64_t i = 0; i < 48; ++i) all[i] = i;
    for (int64_t i = 0; i < 48; i += 2) half.push_back(i);
    for (Reward r : {Reward::matrices, Reward::joint, Reward::maps, Reward::output}) {
        EXPECT_EQ(parse_reward(reward_name(r)), r);
        EXPECT_DOUBLE_EQ(selection_reward(cpu_backend(2), layer, all, r), 0.0) << reward_name(r);
        EXPECT_LT(selection_reward(cpu_backend(2), layer, half, r), 0.0) << reward_name(r);
    }
    // The probe outputs of all neurons equal the dense FFN on the same inputs, and the
    // sliced outputs sum the kept neurons' terms only.
    const Matrix act = probe_activations(cpu_backend(2), layer, 4, 9);
    const Matrix y = probe_outputs(cpu_backend(2), act, layer.w2, all), yh = probe_outputs(cpu_backend(2), act, layer.w2, half);
    for (int64_t n = 0; n < 4; ++n)
        for (int64_t r = 0; r < 16; ++r) {
            double full = 0, kept = 0;
            for (int64_t i = 0; i < 48; ++i) {
                full += static_cast<double>(act(n, i)) * layer.w2(r, i);
                if (i % 2 == 0) kept += static_cast<double>(act(n, i)) * layer.w2(r, i);
            }
            EXPECT_NEAR(y(n, r), full, 1e-5 * (1.0 + std::abs(full)));
            EXPECT_NEAR(yh(n, r), kept, 1e-5 * (1.0 + std::abs(kept)));
        }
}

TEST(PruneNet, LayerRatiosKeepTheTotalBudget) {
    const model::Model m = tiny_model(3);
    TrainOptions o;
    o.steps = 10;
    Context ctx;
    const Policy p = train_policy(m, o, ctx);
    const auto r = spectral_layer_ratios(cpu_backend(2), m, p, 0.3);
    double removed = 0, total = 0;
    for (size_t l = 0; l < r.size(); ++l) {
        EXPECT_GE(r[l], 0.0);
        EXPECT_LE(r[l], 0.9);
        removed += r[l] * 48;
        total += 48;
    }
    EXPECT_NEAR(removed / total, 0.3, 1e-9);
}

// A learning rate that is not a finite positive number would write a policy that cannot be
// read back: refused before training.
TEST(PruneNet, LearningRateMustBeFinitePositive) {
    const model::Model m = tiny_model(3);
    Context ctx;
    TrainOptions o;
    o.steps = 1;
    for (double lr : {std::nan(""), double(INFINITY), -double(INFINITY), 0.0, -0.05}) {
        o.learning_rate = lr;
        try {
            train_policy(m, o, ctx);
            ADD_FAILURE() << "learning rate " << lr << " accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), SURGEON_ERR_INVALID_ARGUMENT) << lr;
        }
    }
}

}  // namespace
}  // namespace surgeon::structured
