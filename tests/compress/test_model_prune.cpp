// Whole-model structured pruning: slicing invariants, reload of the written model,
// determinism, policy reuse, kv-group silencing and removal.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.hpp"
#include "io/convert.hpp"
#include "nn/forward.hpp"
#include "io/checkpoint.hpp"
#include "structured/ffn_slice.hpp"
#include "compress/model_prune.hpp"

namespace surgeon::structured {
namespace {

namespace fs = std::filesystem;

// As `surgeon structured --out` writes: a ".bin" path is a llama2.c file, anything else HF.
void save_model(const model::Model& m, const std::string& path) {
    model::save_model(m, path, {model::output_format(path), model::Dtype::F32, ""});
}

void fill(Matrix& m, int64_t rows, int64_t cols, std::mt19937& rng, float scale) {
    std::normal_distribution<float> g(0.0f, scale);
    m = Matrix(rows, cols);
    for (float& v : m.data) v = g(rng);
}

// A small random Llama model with grouped-query attention (default 4 heads, 2 kv heads).
model::Model random_model(unsigned seed, int64_t hidden = 40, int64_t dim = 16, int64_t heads = 4,
                          int64_t kv_heads = 2) {
    std::mt19937 rng(seed);
    model::Model m;
    auto& c = m.config;
    c.dim = dim;
    c.hidden_dim = hidden;
    c.n_layers = 3;
    c.n_heads = heads;
    c.n_kv_heads = kv_heads;
    c.vocab_size = 32;
    c.seq_len = 24;
    fill(m.tok_emb, c.vocab_size, c.dim, rng, 1.0f);
    m.rms_final.assign(c.dim, 1.0f);
    for (int64_t l = 0; l < c.n_layers; ++l) {
        model::LayerWeights L;
        L.rms_att.assign(c.dim, 1.0f);
        L.rms_ffn.assign(c.dim, 1.0f);
        fill(L.wq, c.dim, c.dim, rng, 0.3f);
        fill(L.wk, c.kv_dim(), c.dim, rng, 0.3f);
        fill(L.wv, c.kv_dim(), c.dim, rng, 0.3f);
        fill(L.wo, c.dim, c.dim, rng, 0.3f);
        fill(L.w1, hidden, c.dim, rng, 0.3f);
        fill(L.w3, hidden, c.dim, rng, 0.3f);
        fill(L.w2, c.dim, hidden, rng, 0.3f);
        m.layers.push_back(std::move(L));
    }
    model::validate_shapes(m);
    return m;
}

const std::vector<int> kTokens = {1, 5, 9, 30, 2, 17, 4, 4, 11, 0, 23};

void expect_close(const Matrix& a, const Matrix& b, float tol) {
    ASSERT_EQ(a.rows, b.rows);
    ASSERT_EQ(a.cols, b.cols);
    for (size_t i = 0; i < a.data.size(); ++i) ASSERT_NEAR(a.data[i], b.data[i], tol * (1 + std::fabs(b.data[i])));
}

// A per-process scratch path (concurrent runs must not collide), removed at exit.
std::string temp_path(const std::string& name) {
    static const fs::path dir = [] {
        fs::path d = fs::path(::testing::TempDir()) / ("surgeon_structured_" + std::to_string(::getpid()));
        fs::create_directories(d);
        std::atexit([] {
            std::error_code ec;
            fs::remove_all(fs::path(::testing::TempDir()) / ("surgeon_structured_" + std::to_string(::getpid())), ec);
        });
        return d;
    }();
    const fs::path p = dir / name;
    fs::remove_all(p);
    return p.string();
}

TEST(ModelPrune, SlicingNeuronsWithZeroDownColumnsKeepsTheLogits) {
    model::Model m = random_model(1);
    Selection keep(m.layers.size());
    for (size_t l = 0; l < m.layers.size(); ++l)
        for (int64_t i = 0; i < 40; ++i) {
            if ((i + static_cast<int64_t>(l)) % 4 == 0) {
                for (int64_t r = 0; r < 16; ++r) m.layers[l].w2(r, i) = 0.0f;
            } else {
                keep[l].push_back(i);
            }
        }
    const Matrix before = model::forward(cpu_backend(2), m, kTokens);
    const int64_t params = model::parameter_count(m);
    slice_model_ffn(m, keep);
    model::validate_shapes(m);
    EXPECT_EQ(model::parameter_count(m), params - 3 * 16 * 3 * 10);  // 10 neurons per block
    EXPECT_EQ(m.config.hidden_dim, 30);
    expect_close(model::forward(cpu_backend(2), m, kTokens), before, 1e-4f);
}

TEST(ModelPrune, SlicedModelsReloadFromHfAndLlama2c) {
    for (Method method : {Method::l2, Method::random, Method::prunenet}) {
        model::Model m = random_model(2);
        PruneOptions o;
        o.method = method;
        o.ratio = 0.3;
        o.train.steps = 6;
        Context ctx;
        const PruneReport r = prune_model(m, o, ctx);
        EXPECT_EQ(r.ffn_sizes, (std::vector<int64_t>{28, 28, 28}));
        EXPECT_EQ(r.params_after, r.params_before - 3 * 12 * 3 * 16);
        const Matrix logits = model::forward(cpu_backend(2), m, kTokens);
        const std::string hf = temp_path(std::string("hf_") + method_name(method));
        save_model(m, hf);
        const model::Model back = model::load_model(hf);
        EXPECT_EQ(back.layers[1].w1.rows, 28);
        EXPECT_EQ(model::parameter_count(back), r.params_after);
        expect_close(model::forward(cpu_backend(2), back, kTokens), logits, 1e-5f);
        const std::string bin = temp_path(std::string("l2c_") + method_name(method) + ".bin");
        save_model(m, bin);
        expect_close(model::forward(cpu_backend(2), model::load_model(bin), kTokens), logits, 1e-5f);
    }
}

TEST(ModelPrune, NonUniformSizesNeedHfOutput) {
    model::Model m = random_model(3);
    PruneOptions o;
    o.method = Method::l2;
    o.spectral_layer_ratios = true;
    o.ratio = 0.4;
    Context ctx;
    // Make block 2's spectrum sensitive so that the blocks get different ratios.
    for (float& v : m.layers[2].w1.data) v *= 3.0f;
    const PruneReport r = prune_model(m, o, ctx);
    int64_t kept = 0;
    for (int64_t s : r.ffn_sizes) kept += s;
    EXPECT_NEAR(static_cast<double>(kept), 0.6 * 120, 2.0);  // total budget kept (rounding per block)
    const bool uniform = r.ffn_sizes[0] == r.ffn_sizes[1] && r.ffn_sizes[1] == r.ffn_sizes[2];
    if (uniform) GTEST_FAIL() << "spectral ratios gave identical sizes";
    try {
        save_model(m, temp_path("nonuniform.bin"));
        FAIL() << "llama2.c output of non-uniform FFNs must fail";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_UNSUPPORTED);
    }
    const std::string hf = temp_path("nonuniform_hf");
    save_model(m, hf);
    const model::Model back = model::load_model(hf);
    for (size_t l = 0; l < 3; ++l) EXPECT_EQ(back.layers[l].w1.rows, r.ffn_sizes[l]);
    expect_close(model::forward(cpu_backend(2), back, kTokens), model::forward(cpu_backend(2), m, kTokens), 1e-5f);
}

TEST(ModelPrune, SameSeedSameSelectionAndPoliciesApplyAtOtherRatios) {
    PruneOptions o;
    o.train.steps = 12;
    Context ctx;
    model::Model a = random_model(4), b = random_model(4);
    const PruneReport ra = prune_model(a, o, ctx), rb = prune_model(b, o, ctx);
    EXPECT_EQ(ra.policy->params, rb.policy->params);
    for (size_t l = 0; l < a.layers.size(); ++l) EXPECT_EQ(a.layers[l].w1.data, b.layers[l].w1.data);
    // Reuse at 50% on another model of the same hidden size (and another FFN width).
    const std::string path = temp_path("policy.json");
    ra.policy->save(path);
    model::Model other = random_model(9, 52);
    PruneOptions reuse;
    reuse.ratio = 0.5;
    reuse.policy = Policy::load(path);
    const PruneReport r = prune_model(other, reuse, ctx);
    EXPECT_EQ(r.train_seconds, 0.0);
    EXPECT_EQ(r.ffn_sizes, (std::vector<int64_t>{26, 26, 26}));
    // A policy for another hidden size is refused.
    model::Model wide = random_model(5);
    wide.config.dim = 8;
    for (auto& L : wide.layers) L.w1 = Matrix(40, 8);
    EXPECT_THROW(ffn_scores(wide, Method::prunenet, &*reuse.policy, 1), Error);
}

// wo with head h writing s_h times the identity into its own 4 rows: singular values s_h,
// four times each. With s = (1, 2, 3, 4) and one head per kv group, removing head h leaves
// 12 values; the KS distances are 1/4, 1/6, 1/6, 1/4 (empirical CDFs at 1, 2, 3).
void diagonal_heads(model::LayerWeights& L) {
    L.wo = Matrix(16, 16);
    for (int64_t h = 0; h < 4; ++h)
        for (int64_t i = 0; i < 4; ++i) L.wo(h * 4 + i, h * 4 + i) = static_cast<float>(h + 1);
}

TEST(ModelPrune, KvGroupDistancesMatchClosedForms) {
    model::Model m = random_model(6);
    m.config.n_kv_heads = 4;  // one query head per kv head
    for (auto& L : m.layers) {
        std::mt19937 rng(1);
        fill(L.wk, 16, 16, rng, 0.3f);
        fill(L.wv, 16, 16, rng, 0.3f);
    }
    diagonal_heads(m.layers[0]);
    const auto d = kv_group_distances(cpu_backend(2), m.config, m.layers[0]);
    ASSERT_EQ(d.size(), 4u);
    EXPECT_NEAR(d[0], 0.25, 1e-12);
    EXPECT_NEAR(d[1], 1.0 / 6, 1e-12);
    EXPECT_NEAR(d[2], 1.0 / 6, 1e-12);
    EXPECT_NEAR(d[3], 0.25, 1e-12);
    EXPECT_EQ(choose_kv_groups(cpu_backend(2), m.config, m.layers[0], 2), (std::vector<int64_t>{1, 2}));
    // Grouped-query attention: two kv heads of two query heads each; removing either
    // group leaves {3, 4} or {1, 2}: distance 1/2 both.
    model::Model g = random_model(7);
    diagonal_heads(g.layers[0]);
    const auto dg = kv_group_distances(cpu_backend(2), g.config, g.layers[0]);
    ASSERT_EQ(dg.size(), 2u);
    EXPECT_NEAR(dg[0], 0.5, 1e-12);
    EXPECT_NEAR(dg[1], 0.5, 1e-12);
}

TEST(ModelPrune, SilencedKvGroupsAreTheBlockWithoutThoseHeads) {
    model::Model m = random_model(8);
    const auto d = kv_group_distances(cpu_backend(2), m.config, m.layers[0]);
    const int64_t chosen = d[1] < d[0] ? 1 : 0;
    EXPECT_EQ(choose_kv_groups(cpu_backend(2), m.config, m.layers[0], 1), (std::vector<int64_t>{chosen}));
    model::Model silenced = m;
    silence_kv_groups(m.config, silenced.layers[0], {chosen});
    // head_size 4, two q heads per kv head: q rows and wo columns 8·g..8·g+7, kv rows 4·g..4·g+3.
    model::Model reference = m;
    for (int64_t r = 0; r < 16; ++r)
        for (int64_t c = 8 * chosen; c < 8 * chosen + 8; ++c) {
            EXPECT_EQ(silenced.layers[0].wo(r, c), 0.0f);
            reference.layers[0].wo(r, c) = 0.0f;  // the heads' contribution removed
        }
    for (int64_t r = 4 * chosen; r < 4 * chosen + 4; ++r) EXPECT_EQ(silenced.layers[0].wk(r, 3), 0.0f);
    for (int64_t r = 8 * chosen; r < 8 * chosen + 8; ++r) EXPECT_EQ(silenced.layers[0].wq(r, 5), 0.0f);
    const int64_t other = 1 - chosen;
    EXPECT_NE(silenced.layers[0].wk(4 * other, 3), 0.0f);
    expect_close(model::forward(cpu_backend(2), silenced, kTokens), model::forward(cpu_backend(2), reference, kTokens), 1e-5f);
    EXPECT_EQ(effective_parameters(silenced), model::parameter_count(m) - (8 + 4 + 4 + 8) * 16);
    EXPECT_THROW(choose_kv_groups(cpu_backend(2), m.config, silenced.layers[1], 2), Error);  // keep one group
    EXPECT_THROW(silence_kv_groups(m.config, silenced.layers[1], {0, 1}), Error);
}

// dim 32, 8 query heads of 4 over 4 kv heads (two query heads per group).
model::Model gqa_model(unsigned seed) { return random_model(seed, 40, 32, 8, 4); }

TEST(ModelPrune, RemovedKvGroupsGiveTheLogitsOfTheSilencedModel) {
    const model::Model m = gqa_model(10);
    // Different groups per block, the same number (the config holds one head count).
    const std::vector<std::vector<int64_t>> groups = {{0, 2}, {1, 3}, {2, 3}};
    model::Model silenced = m, removed = m;
    for (size_t l = 0; l < groups.size(); ++l) silence_kv_groups(m.config, silenced.layers[l], groups[l]);
    remove_kv_groups(removed, groups);
    model::validate_shapes(removed);
    const auto& c = removed.config;
    EXPECT_EQ(c.dim, 32);
    EXPECT_EQ(c.n_heads, 4);
    EXPECT_EQ(c.n_kv_heads, 2);
    EXPECT_EQ(c.head_size(), 4);
    EXPECT_EQ(c.q_dim(), 16);
    EXPECT_EQ(removed.layers[0].wq.rows, 16);
    EXPECT_EQ(removed.layers[0].wk.rows, 8);
    EXPECT_EQ(removed.layers[0].wo.cols, 16);
    // Per block and group removed: 8 q rows, 4 k rows, 4 v rows, 8 wo columns of 32.
    EXPECT_EQ(model::parameter_count(removed), model::parameter_count(m) - 3 * 2 * 24 * 32);
    EXPECT_EQ(model::parameter_count(removed), effective_parameters(silenced));
    // Kept rows are the original ones, in order: block 1 keeps groups 0 and 2.
    EXPECT_EQ(removed.layers[1].wq(8, 5), m.layers[1].wq(16, 5));
    EXPECT_EQ(removed.layers[1].wk(4, 7), m.layers[1].wk(8, 7));
    EXPECT_EQ(removed.layers[1].wo(3, 9), m.layers[1].wo(3, 17));
    const Matrix logits = model::forward(cpu_backend(2), removed, kTokens);
    expect_close(logits, model::forward(cpu_backend(2), silenced, kTokens), 1e-5f);
    // Incremental decoding over the smaller KV cache agrees with the whole sequence.
    model::KVCache cache(removed);
    const Matrix first = model::forward_cached(cpu_backend(2), removed, cache, {kTokens.begin(), kTokens.begin() + 6});
    const Matrix rest = model::forward_cached(cpu_backend(2), removed, cache, {kTokens.begin() + 6, kTokens.end()});
    for (int64_t v = 0; v < logits.cols; ++v) {
        ASSERT_NEAR(first(5, v), logits(5, v), 1e-4f * (1 + std::fabs(logits(5, v))));
        ASSERT_NEAR(rest(rest.rows - 1, v), logits(logits.rows - 1, v), 1e-4f * (1 + std::fabs(logits(logits.rows - 1, v))));
    }

    // A second removal works on the narrower layout: silencing then cutting agree again.
    model::Model silenced2 = removed, removed2 = removed;
    for (auto& L : silenced2.layers) silence_kv_groups(removed.config, L, {1});
    remove_kv_groups(removed2, {{1}, {1}, {1}});
    EXPECT_EQ(removed2.config.n_heads, 2);
    EXPECT_EQ(removed2.config.q_dim(), 8);
    expect_close(model::forward(cpu_backend(2), removed2, kTokens), model::forward(cpu_backend(2), silenced2, kTokens), 1e-5f);
}

TEST(ModelPrune, RemovedHeadsRoundTripThroughHfButNotLlama2c) {
    model::Model m = gqa_model(11);
    PruneOptions o;
    o.method = Method::l2;
    o.ratio = 0.25;
    o.head_ratio = 0.25;  // 1 of 4 kv groups per block
    Context ctx;
    const PruneReport r = prune_model(m, o, ctx);
    ASSERT_EQ(r.heads_silenced.size(), 3u);
    for (const auto& g : r.heads_silenced) EXPECT_EQ(g.size(), 1u);
    EXPECT_EQ(m.config.n_kv_heads, 3);
    EXPECT_EQ(m.config.n_heads, 6);
    EXPECT_EQ(r.params_after, model::parameter_count(m));
    // 10 of 40 neurons (3 · 32 weights each) and one group (24 rows/columns of 32) per block.
    EXPECT_EQ(r.params_after, r.params_before - 3 * (10 * 3 * 32 + 24 * 32));
    const Matrix logits = model::forward(cpu_backend(2), m, kTokens);

    const std::string hf = temp_path("heads_hf");
    save_model(m, hf);
    std::ifstream config_file(fs::path(hf) / "config.json");
    const nlohmann::json config = nlohmann::json::parse(config_file);
    EXPECT_EQ(config["hidden_size"], 32);
    EXPECT_EQ(config["num_attention_heads"], 6);
    EXPECT_EQ(config["num_key_value_heads"], 3);
    EXPECT_EQ(config["head_dim"], 4);
    const model::Model back = model::load_model(hf);
    EXPECT_EQ(back.config.n_heads, 6);
    EXPECT_EQ(back.config.head_size(), 4);
    EXPECT_EQ(model::parameter_count(back), r.params_after);
    expect_close(model::forward(cpu_backend(2), back, kTokens), logits, 1e-5f);

    const std::string bin = temp_path("heads.bin");
    try {
        save_model(m, bin);
        FAIL() << "llama2.c output of a head-pruned model must fail";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_UNSUPPORTED);
        EXPECT_NE(std::string(e.what()).find("heads were removed"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("Hugging Face"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(bin)) << "nothing is written";
}

TEST(ModelPrune, RemovingKvGroupsNeedsTheSameCountInEveryBlock) {
    model::Model m = gqa_model(12);
    const model::Model before = m;
    try {
        remove_kv_groups(m, {{0}, {1, 2}, {3}});
        FAIL() << "unequal head counts per block must be refused";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_INVALID_ARGUMENT);
        EXPECT_NE(std::string(e.what()).find("same number"), std::string::npos) << e.what();
    }
    EXPECT_THROW(remove_kv_groups(m, {{0, 1, 2, 3}, {0, 1, 2, 3}, {0, 1, 2, 3}}), Error);  // keep one
    EXPECT_THROW(remove_kv_groups(m, {{2, 1}, {1, 2}, {1, 2}}), Error);                    // not ascending
    EXPECT_THROW(remove_kv_groups(m, {{4}, {1}, {1}}), Error);                             // no group 4
    EXPECT_THROW(remove_kv_groups(m, {{1}, {1}}), Error);                                  // one list per block
    EXPECT_EQ(m.config.n_heads, before.config.n_heads);  // refused calls change nothing
    EXPECT_EQ(m.layers[2].wq.data, before.layers[2].wq.data);
}

TEST(ModelPrune, BundledStoriesModelPrunesReloadsAndRuns) {
    const std::string path = std::string(SURGEON_SOURCE_DIR) + "/samples/data/stories260K.bin";
    if (!fs::exists(path)) GTEST_SKIP() << "bundled model missing";
    model::Model m = model::load_model(path);
    PruneOptions o;
    o.ratio = 0.3;
    o.train.steps = 10;
    Context ctx;
    const PruneReport r = prune_model(m, o, ctx);
    EXPECT_LT(r.params_after, r.params_before);
    const std::string out = temp_path("stories_hf");
    save_model(m, out);
    const model::Model back = model::load_model(out);
    const std::vector<int> tokens = {1, 403, 407, 261, 378, 365, 284, 429};
    const Matrix logits = model::forward(cpu_backend(2), back, tokens);
    expect_close(logits, model::forward(cpu_backend(2), m, tokens), 1e-5f);
    for (float v : logits.data) ASSERT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace surgeon::structured
