// JSON of mixed precision: a recipe's "mixed" object read into a MixedRecipe, and the plan
// and its statistics written into compression reports (and surgeon_mixed_stats_json).
#pragma once

#include <nlohmann/json.hpp>

#include "compress/mixed_recipe.hpp"
#include "layer/quant/mixed_stats.hpp"

namespace surgeon {

// Merges `spec` into *plan and validates the result; *plan is unchanged when it throws
// (SURGEON_ERR_INVALID_ARGUMENT). Keys: allocator, avg_bits, options [..], quantiles [..],
// error_model, sensitivity (or the boolean downstream), scope, normalize, weights
// {activation, hessian, weight, output, variance}, scale_bits, zero_bits. Unknown keys
// are errors.
void apply_mixed_spec(const nlohmann::json& spec, MixedRecipe* plan);

// Every key apply_mixed_spec reads (quantiles only when set).
nlohmann::json mixed_plan_to_json(const MixedRecipe& plan);

// channels, weights, grids, histogram {width: rows}, avg_bits, avg_bits_with_overhead and,
// when measured, importance {min, max, mean}.
nlohmann::json mixed_stats_to_json(const MixedStats& stats);

}  // namespace surgeon
