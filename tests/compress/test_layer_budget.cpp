// Model-level bit budget: measured loss rises and the exact layer knapsack.
#include <gtest/gtest.h>

#include "compress/layer_budget.hpp"
#include "io/llama2c.hpp"
#include "nn/perplexity.hpp"
#include "compress/pipeline.hpp"
#include "io/tokenizer.hpp"
#include "llama2c_data.hpp"

using namespace surgeon;
using namespace surgeon::model;

namespace {

struct Setup {
    Model model;
    std::vector<std::vector<int>> calibration;
};

const Setup& setup() {
    static const Setup s = [] {
        Setup r;
        r.model = read_llama2c(surgeon_test::model_file());
        const Tokenizer tok = Tokenizer::load(surgeon_test::tokenizer_file(), 512);
        r.calibration = paragraph_sequences(tok, surgeon_test::read_text(surgeon_test::stories_file()),
                                            Range{2000, 2008}, 64);
        return r;
    }();
    return s;
}

Recipe gptq_recipe(const char* extra = "") {
    return Recipe::from_json(nlohmann::json::parse(std::string(R"({"default": {"method": "gptq", "bits": 4})") +
                                                   extra + "}"));
}

}  // namespace

TEST(LayerBudget, MeetsTheAverageAndMinimisesTheMeasuredRise) {
    auto ctx = std::make_shared<Context>();
    LayerBudgetOptions o;
    o.options = {2, 4};
    o.avg_bits = 3.0;
    o.sequences = 8;
    const LayerBudget b = plan_layer_budget(setup().model, setup().calibration, gptq_recipe(), o, ctx);
    ASSERT_EQ(b.bits.size(), 35u);
    EXPECT_LE(b.avg_bits, 3.0 + 1e-12);
    EXPECT_GT(b.avg_bits, 2.99);  // the budget is spent, to the granularity of the layers
    double predicted = 0.0;
    for (const auto& [name, bits] : b.bits) {
        const std::vector<double>& rise = b.loss_rise.at(name);
        ASSERT_EQ(rise.size(), 2u);
        predicted += rise[bits == 2 ? 0 : 1];
        EXPECT_GE(rise[0], rise[1]) << name;  // fewer bits never cost less (noise clipped)
    }
    EXPECT_NEAR(predicted, b.predicted_rise, 1e-12);

    // The whole budget at the top option: every layer gets it.
    o.avg_bits = 4.0;
    const LayerBudget all = plan_layer_budget(setup().model, setup().calibration, gptq_recipe(), o, ctx);
    for (const auto& [name, bits] : all.bits) EXPECT_EQ(bits, 4) << name;
    EXPECT_DOUBLE_EQ(all.avg_bits, 4.0);
}

TEST(LayerBudget, RulesGiveEachLayerItsWidthAndSkipOtherLayers) {
    auto ctx = std::make_shared<Context>();
    LayerBudgetOptions o;
    o.options = {3, 5};
    o.avg_bits = 4.0;
    o.sequences = 4;
    const Recipe recipe = gptq_recipe(R"(, "rules": [{"match": "layers.0.*", "skip": true}])");
    const LayerBudget b = plan_layer_budget(setup().model, setup().calibration, recipe, o, ctx);
    EXPECT_EQ(b.bits.size(), 28u);  // block 0 is not quantized
    nlohmann::json j{{"default", {{"method", "gptq"}, {"bits", 4}}}, {"rules", layer_budget_rules(b, recipe)}};
    const Recipe planned = Recipe::from_json(j);
    for (const auto& [name, bits] : b.bits) EXPECT_EQ(planned.plan_for(name).quant.bits, bits) << name;
    EXPECT_THROW(plan_layer_budget(setup().model, setup().calibration, recipe,
                                   LayerBudgetOptions{2.5, {3, 5}, 4}, ctx),
                 Error);  // below the smallest option
}
