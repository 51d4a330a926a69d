// gguf_recipe: every quantizing layer on the ggml grid, and exactly the layers whose blocks
// cannot exist left off it — a width not a multiple of 32, or the down projection of an
// FFN narrower than the widest (padded with zero columns in the GGUF) — by "skip" for
// gptq/rtn and "bits": null for joint pruning; settings the grid cannot take are errors.
#include <gtest/gtest.h>

#include "compress/gguf_plan.hpp"
#include "compress/recipe.hpp"
#include "core/error.hpp"
#include "hf_util.hpp"

namespace surgeon::model {
namespace {

ModelConfig config() {
    ModelConfig c;
    c.dim = 64;
    c.n_layers = 3;
    c.n_heads = 8;
    c.n_kv_heads = 4;
    c.hidden_dim = 96;
    return c;
}

TEST(GgufPlan, LayersWithoutBlocksAreLeftOffTheGrid) {
    const std::vector<int64_t> ffn = {96, 64, 80};  // 96: the widest; 64: padded; 80: not 32k
    std::vector<std::string> off;
    const nlohmann::json r = gguf_recipe({{"default", {{"method", "gptq"}, {"bits", 4}, {"group", 32}}}}, config(),
                                         ffn, &off);
    EXPECT_EQ(off, (std::vector<std::string>{"layers.1.w2", "layers.2.w2"}));
    const Recipe recipe = Recipe::from_json(r);
    for (int b = 0; b < 3; ++b)
        for (const char* l : kLinearNames) {
            const std::string name = "layers." + std::to_string(b) + "." + l;
            const LayerPlan p = recipe.plan_for(name);
            const bool kept_off = name == "layers.1.w2" || name == "layers.2.w2";
            EXPECT_EQ(p.method, kept_off ? Method::dense : Method::gptq) << name;
            if (!kept_off) {
                EXPECT_EQ(p.quant.kind, GridKind::ggml) << name;
            }
        }
    // Joint pruning keeps its pruning and drops only the quantization there.
    const Recipe joint = Recipe::from_json(gguf_recipe(
        {{"default", {{"method", "sparsegpt"}, {"sparsity", 0.5}, {"bits", 8}, {"group", 32}}}}, config(), ffn));
    EXPECT_EQ(joint.plan_for("layers.2.w2").method, Method::sparsegpt);
    EXPECT_FALSE(joint.plan_for("layers.2.w2").quantize);
    EXPECT_TRUE(joint.plan_for("layers.2.w1").quantize);
    // Pruning alone needs no rule.
    std::vector<std::string> none;
    gguf_recipe({{"default", {{"method", "wanda"}, {"sparsity", 0.5}}}}, config(), ffn, &none);
    EXPECT_TRUE(none.empty());
}

TEST(GgufPlan, SettingsOffTheGridAreErrors) {
    const std::vector<int64_t> ffn = {96, 96, 96};
    hfio_test::expect_error(
        [&] { gguf_recipe({{"default", {{"method", "gptq"}, {"bits", 4}, {"group", 128}}}}, config(), ffn); },
        SURGEON_ERR_INVALID_ARGUMENT, "groups of 32 columns, got 128");
    hfio_test::expect_error(
        [&] {
            gguf_recipe({{"default", {{"method", "gptq"}, {"bits", 4}, {"group", 32}}},
                         {"rules", {{{"match", "layers.1.wo"}, {"grid", "affine"}}}}},
                        config(), ffn);
        },
        SURGEON_ERR_INVALID_ARGUMENT, "layers.1.wo quantizes on the affine grid");
}

}  // namespace
}  // namespace surgeon::model
