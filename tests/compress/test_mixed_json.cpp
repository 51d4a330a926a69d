// JSON of mixed precision (compress/mixed_json.hpp): a recipe's "mixed" object merged into
// a plan (refused whole when any key is bad), the plan written back, and the statistics of
// a known allocation.
#include <gtest/gtest.h>

#include "compress/mixed_json.hpp"
#include "core/error.hpp"

namespace surgeon {
namespace {

TEST(MixedJson, ParsesRecipeSpecAndRefusesBadKeysWhole) {
    MixedRecipe p;
    apply_mixed_spec(nlohmann::json::parse(
                         R"({"allocator": "budget", "avg_bits": 3.5, "options": [2, 4, 8], "weights": {"hessian": 0}})"),
                     &p);
    EXPECT_EQ(p.allocator, Allocator::budget);
    EXPECT_EQ(p.avg_bits, 3.5);
    EXPECT_EQ(p.options, (std::vector<int>{2, 4, 8}));
    EXPECT_EQ(p.weights[ImportanceSignal::hessian], 0.0);
    EXPECT_EQ(p.weights[ImportanceSignal::activation], 0.25);
    const MixedRecipe before = p;
    EXPECT_THROW(apply_mixed_spec(nlohmann::json::parse(R"({"avg_bits": 9})"), &p), Error);
    EXPECT_THROW(apply_mixed_spec(nlohmann::json::parse(R"({"bogus": 1})"), &p), Error);
    EXPECT_THROW(apply_mixed_spec(nlohmann::json::parse(R"({"weights": {"nope": 1}})"), &p), Error);
    EXPECT_THROW(apply_mixed_spec(nlohmann::json::parse(R"({"avg_bits": "three"})"), &p), Error);
    EXPECT_THROW(apply_mixed_spec(nlohmann::json::array(), &p), Error);
    EXPECT_EQ(mixed_plan_to_json(p), mixed_plan_to_json(before));

    apply_mixed_spec(nlohmann::json::parse(R"({"downstream": true})"), &p);
    EXPECT_EQ(p.sensitivity, RowSensitivity::downstream);
    apply_mixed_spec(nlohmann::json::parse(R"({"downstream": false})"), &p);
    EXPECT_EQ(p.sensitivity, RowSensitivity::layer);
}

TEST(MixedJson, PlanWrittenBackReadsAsTheSamePlan) {
    MixedRecipe p;
    apply_mixed_spec(nlohmann::json::parse(R"({"allocator": "quantile", "avg_bits": 3, "options": [2, 3, 4],
                                                "quantiles": [0.25, 0.75], "scale_bits": 8, "zero_bits": 0})"),
                     &p);
    const nlohmann::json j = mixed_plan_to_json(p);
    EXPECT_EQ(j["allocator"], "quantile");
    EXPECT_EQ(j["quantiles"], nlohmann::json::parse("[0.25, 0.75]"));
    EXPECT_EQ(j["scale_bits"], 8);
    EXPECT_EQ(j["zero_bits"], 0);
    MixedRecipe q;
    apply_mixed_spec(j, &q);
    EXPECT_EQ(mixed_plan_to_json(q), j);
}

TEST(MixedJson, StatsOfAKnownAllocation) {
    const std::vector<int> bits = {2, 2, 3, 4, 8};
    const std::vector<float> imp = {0.5f, 1.0f, 1.5f, 0.25f, 1.75f};
    // cols 256, groups of 128: 2 grids per row, 16-bit scale and a zero of the row's width.
    const nlohmann::json j = mixed_stats_to_json(mixed_stats(bits, 256, 128, {}, &imp));
    EXPECT_EQ(j["channels"], 5);
    EXPECT_EQ(j["weights"], 1280);
    EXPECT_EQ(j["grids"], 10);
    EXPECT_EQ(j["histogram"], nlohmann::json::parse(R"({"2": 2, "3": 1, "4": 1, "8": 1})"));
    EXPECT_DOUBLE_EQ(j["avg_bits"].get<double>(), 19.0 / 5.0);
    EXPECT_DOUBLE_EQ(j["avg_bits_with_overhead"].get<double>(), (19.0 * 256 + 2 * (5 * 16 + 19)) / 1280.0);
    EXPECT_DOUBLE_EQ(j["importance"]["min"].get<double>(), 0.25);
    EXPECT_DOUBLE_EQ(j["importance"]["max"].get<double>(), 1.75);
    EXPECT_DOUBLE_EQ(j["importance"]["mean"].get<double>(), 1.0);
    EXPECT_FALSE(mixed_stats_to_json(mixed_stats({4}, 8, 0, {}, nullptr)).contains("importance"));
}

}  // namespace
}  // namespace surgeon
