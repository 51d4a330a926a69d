// Model-level structured pruning through the experimental C API, on the bundled
// stories260K (dim 64, FFN 172, 5 blocks, 8 heads over 4 kv heads of 8 dimensions): the
// kept neurons are those the layer-level calls select and slice, the configuration and
// the report follow, removed kv groups give the expected shapes, the perplexity stays
// finite, and refused calls leave the model unchanged.
#define SURGEON_EXPERIMENTAL_API
#include "surgeon/surgeon_experimental.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "capi_helpers.hpp"

namespace capi_test {
namespace {

using OptionsPtr = std::unique_ptr<surgeon_structured_options,
                                   Deleter<surgeon_structured_options, surgeon_structured_options_free>>;
using PolicyPtr = std::unique_ptr<surgeon_prunenet, Deleter<surgeon_prunenet, surgeon_prunenet_free>>;

const std::string kData = SURGEON_SAMPLES_DATA_DIR;


OptionsPtr options(surgeon_ffn_method method, double ratio, double head_ratio = 0.0) {
    surgeon_structured_options* o = nullptr;
    EXPECT_EQ(surgeon_structured_options_new(&o), SURGEON_OK);
    EXPECT_EQ(surgeon_structured_options_set_method(o, method), SURGEON_OK);
    EXPECT_EQ(surgeon_structured_options_set_ratio(o, ratio), SURGEON_OK);
    EXPECT_EQ(surgeon_structured_options_set_head_ratio(o, head_ratio), SURGEON_OK);
    return OptionsPtr(o);
}

surgeon_model_config config_of(const surgeon_model* m) {
    surgeon_model_config c = SURGEON_MODEL_CONFIG_INIT;
    EXPECT_EQ(surgeon_model_get_config(m, &c), SURGEON_OK);
    return c;
}

std::vector<float> linear(const surgeon_model* m, int64_t block, const char* name, int64_t* rows = nullptr,
                          int64_t* cols = nullptr) {
    int64_t r = 0, c = 0;
    EXPECT_EQ(surgeon_model_linear_shape(m, block, name, &r, &c), SURGEON_OK) << last_error();
    std::vector<float> w(static_cast<size_t>(r * c));
    EXPECT_EQ(surgeon_model_get_linear(m, block, name, w.data(), r, c), SURGEON_OK);
    if (rows) *rows = r;
    if (cols) *cols = c;
    return w;
}

nlohmann::json report_of(const surgeon_model* m) {
    size_t needed = 0;
    EXPECT_EQ(surgeon_model_report(m, nullptr, 0, &needed), SURGEON_OK);
    std::string text(needed, '\0');
    EXPECT_EQ(surgeon_model_report(m, text.data(), text.size(), &needed), SURGEON_OK);
    return nlohmann::json::parse(text.c_str());
}

double perplexity(const surgeon_model* m) {
    static const std::string text = [] {
        std::ifstream in(kData + "/tinystories-valid.txt", std::ios::binary);
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }();
    surgeon_perplexity p = SURGEON_PERPLEXITY_INIT;
    EXPECT_EQ(surgeon_model_perplexity(nullptr, m, text.c_str(), SURGEON_EVAL_PARAGRAPHS, 0, 30, 0, &p), SURGEON_OK);
    return p.ppl;
}

TEST(CapiExperimental, StructuredOptionsDefaultsAndRefusedValues) {
    surgeon_structured_options* raw = nullptr;
    CAPI_OK(surgeon_structured_options_new(&raw));
    OptionsPtr o(raw);
    double ratio = -1, head = -1;
    CAPI_OK(surgeon_structured_options_get_ratio(o.get(), &ratio));
    CAPI_OK(surgeon_structured_options_get_head_ratio(o.get(), &head));
    EXPECT_EQ(ratio, 0.3);
    EXPECT_EQ(head, 0.0);
    for (double bad : {1.0, -0.1, std::nan("")}) {
        EXPECT_EQ(surgeon_structured_options_set_ratio(o.get(), bad), SURGEON_ERR_INVALID_ARGUMENT);
        EXPECT_EQ(surgeon_structured_options_set_head_ratio(o.get(), bad), SURGEON_ERR_INVALID_ARGUMENT);
    }
    EXPECT_TRUE(starts_with(last_error(), "surgeon_structured_options_set_head_ratio: ")) << last_error();
    CAPI_OK(surgeon_structured_options_get_ratio(o.get(), &ratio));
    EXPECT_EQ(ratio, 0.3);
    EXPECT_EQ(surgeon_structured_options_set_method(o.get(), static_cast<surgeon_ffn_method>(3)),
              SURGEON_ERR_INVALID_ARGUMENT);
    surgeon_prunenet_options t = SURGEON_PRUNENET_OPTIONS_INIT;
    t.samples = 1;
    EXPECT_EQ(surgeon_structured_options_set_training(o.get(), &t), SURGEON_ERR_INVALID_ARGUMENT);
    t.samples = 8;
    t.version = 99;
    EXPECT_EQ(surgeon_structured_options_set_training(o.get(), &t), SURGEON_ERR_INVALID_ARGUMENT);
    CAPI_OK(surgeon_structured_options_set_training(o.get(), nullptr));
    CAPI_OK(surgeon_structured_options_set_policy(o.get(), nullptr));
    CAPI_OK(surgeon_structured_options_set_spectral_ratios(o.get(), 1));
    CAPI_OK(surgeon_structured_options_set_seed(o.get(), 7));
    EXPECT_EQ(surgeon_structured_options_new(nullptr), SURGEON_ERR_INVALID_ARGUMENT);
    surgeon_structured_options_free(nullptr);
}

// L2 at 25 %: every block keeps the 129 neurons surgeon_ffn_scores + surgeon_ffn_select
// choose, sliced as surgeon_ffn_slice slices them.
TEST(CapiExperimental, FfnSlicingMatchesTheLayerCalls) {
    ModelPtr m = load_model();
    const surgeon_model_config before = config_of(m.get());
    const double ppl_before = perplexity(m.get());
    std::vector<std::vector<float>> gate(5), up(5), down(5);
    for (int64_t b = 0; b < 5; ++b) {
        gate[b] = linear(m.get(), b, "w1");
        up[b] = linear(m.get(), b, "w3");
        down[b] = linear(m.get(), b, "w2");
    }
    CAPI_OK(surgeon_model_prune_structured(nullptr, m.get(), options(SURGEON_FFN_L2, 0.25).get()));

    const surgeon_model_config after = config_of(m.get());
    EXPECT_EQ(after.hidden_dim, 129);  // 172 - round(0.25 · 172)
    EXPECT_EQ(after.dim, before.dim);
    EXPECT_EQ(after.n_heads, before.n_heads);
    EXPECT_EQ(before.parameters - after.parameters, 5 * 43 * 3 * 64);
    for (int64_t b = 0; b < 5; ++b) {
        std::vector<float> scores(172);
        CAPI_OK(surgeon_ffn_scores(SURGEON_FFN_L2, gate[b].data(), up[b].data(), down[b].data(), 172, 64, 0,
                                   scores.data()));
        std::vector<int64_t> keep(172);
        size_t kept = 0;
        CAPI_OK(surgeon_ffn_select(scores.data(), 172, 0.25, keep.data(), keep.size(), &kept));
        ASSERT_EQ(kept, 129u);
        CAPI_OK(surgeon_ffn_slice(gate[b].data(), up[b].data(), down[b].data(), 172, 64, keep.data(), 129));
        int64_t rows = 0, cols = 0;
        const auto w1 = linear(m.get(), b, "w1", &rows, &cols);
        EXPECT_EQ(rows, 129);
        EXPECT_EQ(cols, 64);
        EXPECT_EQ(w1, std::vector<float>(gate[b].begin(), gate[b].begin() + 129 * 64)) << b;
        EXPECT_EQ(linear(m.get(), b, "w3"), std::vector<float>(up[b].begin(), up[b].begin() + 129 * 64)) << b;
        const auto w2 = linear(m.get(), b, "w2", &rows, &cols);
        EXPECT_EQ(rows, 64);
        EXPECT_EQ(cols, 129);
        EXPECT_EQ(w2, std::vector<float>(down[b].begin(), down[b].begin() + 64 * 129)) << b;
    }
    const nlohmann::json j = report_of(m.get());
    EXPECT_EQ(j["method"], "l2");
    EXPECT_EQ(j["ffn_sizes"], nlohmann::json({129, 129, 129, 129, 129}));
    EXPECT_EQ(j["params_before"].get<int64_t>(), before.parameters);
    EXPECT_EQ(j["params_after"].get<int64_t>(), after.parameters);
    const double ppl = perplexity(m.get());
    EXPECT_TRUE(std::isfinite(ppl));
    EXPECT_GT(ppl, ppl_before);  // a quarter of the FFN is gone
    EXPECT_LT(ppl, 10.0 * ppl_before);
}

// Half of the kv groups: 2 of 4 remain, with their 2 query heads each; the head size stays.
// The model saves as a Hugging Face directory and loads back with the same perplexity.
TEST(CapiExperimental, KvGroupRemoval) {
    ModelPtr m = load_model();
    CAPI_OK(surgeon_model_prune_structured(nullptr, m.get(), options(SURGEON_FFN_L2, 0.0, 0.5).get()));
    const surgeon_model_config c = config_of(m.get());
    EXPECT_EQ(c.n_kv_heads, 2);
    EXPECT_EQ(c.n_heads, 4);
    EXPECT_EQ(c.head_dim, 8);
    EXPECT_EQ(c.hidden_dim, 172);
    int64_t rows = 0, cols = 0;
    linear(m.get(), 0, "wq", &rows, &cols);
    EXPECT_EQ(rows, 32);
    EXPECT_EQ(cols, 64);
    linear(m.get(), 4, "wk", &rows, &cols);
    EXPECT_EQ(rows, 16);
    linear(m.get(), 2, "wo", &rows, &cols);
    EXPECT_EQ(rows, 64);
    EXPECT_EQ(cols, 32);
    const nlohmann::json j = report_of(m.get());
    ASSERT_EQ(j["kv_groups_removed"].size(), 5u);
    for (const auto& groups : j["kv_groups_removed"]) EXPECT_EQ(groups.size(), 2u);
    const double ppl = perplexity(m.get());
    EXPECT_TRUE(std::isfinite(ppl));

    const auto dir = std::filesystem::temp_directory_path() / ("surgeon_capi_kv_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    // llama2.c files cannot hold a head size other than dim / n_heads.
    EXPECT_EQ(surgeon_model_save(nullptr, m.get(), (dir.string() + ".bin").c_str(), "llama2c", nullptr),
              SURGEON_ERR_UNSUPPORTED);
    CAPI_OK(surgeon_model_save(nullptr, m.get(), dir.c_str(), "hf", "f32"));
    ModelPtr back = load_model(dir.string());
    EXPECT_EQ(config_of(back.get()).n_heads, 4);
    EXPECT_NEAR(perplexity(back.get()), ppl, 1e-9 * ppl);
    std::filesystem::remove_all(dir);
}

// The random baseline is a function of the seed; a PruneNet policy given in the options
// is used as is (no training), and one for another hidden size is refused with the model
// unchanged.
TEST(CapiExperimental, SeedsPoliciesAndRefusals) {
    ModelPtr a = load_model(), b = load_model(), c = load_model();
    auto random = options(SURGEON_FFN_RANDOM, 0.5);
    CAPI_OK(surgeon_structured_options_set_seed(random.get(), 5));
    CAPI_OK(surgeon_model_prune_structured(nullptr, a.get(), random.get()));
    CAPI_OK(surgeon_model_prune_structured(nullptr, b.get(), random.get()));
    EXPECT_EQ(linear(a.get(), 3, "w2"), linear(b.get(), 3, "w2"));
    EXPECT_EQ(config_of(a.get()).hidden_dim, 86);
    CAPI_OK(surgeon_structured_options_set_seed(random.get(), 6));
    CAPI_OK(surgeon_model_prune_structured(nullptr, c.get(), random.get()));
    EXPECT_NE(linear(a.get(), 3, "w2"), linear(c.get(), 3, "w2"));

    ModelPtr m = load_model();
    const auto wq = linear(m.get(), 0, "wq");
    const auto w1 = linear(m.get(), 0, "w1");
    surgeon_prunenet* raw = nullptr;
    CAPI_OK(surgeon_prunenet_new(&raw, 32, 8, 1));
    PolicyPtr wrong(raw);
    auto pn = options(SURGEON_FFN_PRUNENET, 0.25, 0.5);
    CAPI_OK(surgeon_structured_options_set_policy(pn.get(), wrong.get()));
    EXPECT_EQ(surgeon_model_prune_structured(nullptr, m.get(), pn.get()), SURGEON_ERR_SHAPE);
    EXPECT_TRUE(starts_with(last_error(), "surgeon_model_prune_structured: ")) << last_error();
    EXPECT_EQ(config_of(m.get()).hidden_dim, 172);
    EXPECT_EQ(linear(m.get(), 0, "wq"), wq);
    EXPECT_EQ(linear(m.get(), 0, "w1"), w1);
    EXPECT_EQ(report_of(m.get()), nlohmann::json::object());

    // A policy for dim 64, freed after it was set (the options hold a copy): its scores
    // decide, exactly as surgeon_prunenet_scores + surgeon_ffn_select.
    CAPI_OK(surgeon_prunenet_new(&raw, 64, 8, 3));
    PolicyPtr policy(raw);
    std::vector<float> scores(172);
    const auto w3 = linear(m.get(), 0, "w3"), w2 = linear(m.get(), 0, "w2");
    CAPI_OK(surgeon_prunenet_scores(policy.get(), w1.data(), w3.data(), w2.data(), 172, 64, scores.data()));
    CAPI_OK(surgeon_structured_options_set_policy(pn.get(), policy.get()));
    policy.reset();
    CAPI_OK(surgeon_structured_options_set_head_ratio(pn.get(), 0.0));
    CAPI_OK(surgeon_model_prune_structured(nullptr, m.get(), pn.get()));
    std::vector<int64_t> keep(172);
    size_t kept = 0;
    CAPI_OK(surgeon_ffn_select(scores.data(), 172, 0.25, keep.data(), keep.size(), &kept));
    const auto got = linear(m.get(), 0, "w1");
    ASSERT_EQ(got.size(), kept * 64);
    for (size_t i = 0; i < kept; ++i)
        for (int64_t c2 = 0; c2 < 64; ++c2) ASSERT_EQ(got[i * 64 + c2], w1[keep[i] * 64 + c2]) << i;
    const nlohmann::json j = report_of(m.get());
    EXPECT_EQ(j["method"], "prunenet");
    EXPECT_EQ(j["policy"], "given");
    EXPECT_TRUE(std::isfinite(perplexity(m.get())));
}

// Without a policy, PruneNet trains one for the call with the training options.
TEST(CapiExperimental, PrunenetTrainsWhenNoPolicyIsGiven) {
    ModelPtr m = load_model();
    auto o = options(SURGEON_FFN_PRUNENET, 0.2);
    surgeon_prunenet_options t = SURGEON_PRUNENET_OPTIONS_INIT;
    t.steps = 5;
    CAPI_OK(surgeon_structured_options_set_training(o.get(), &t));
    CAPI_OK(surgeon_model_prune_structured(nullptr, m.get(), o.get()));
    EXPECT_EQ(config_of(m.get()).hidden_dim, 172 - 34);  // round(0.2 · 172) = 34
    const nlohmann::json j = report_of(m.get());
    EXPECT_EQ(j["policy"], "trained");
    EXPECT_TRUE(std::isfinite(perplexity(m.get())));
}

}  // namespace
}  // namespace capi_test
