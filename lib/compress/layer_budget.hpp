// Model-level bit budget (HAWQ-style, measured rather than estimated): how much the
// calibration loss rises when one linear alone is GPTQ-quantized at each width, then the
// assignment of one width per layer that meets a parameter-weighted average at the least
// summed loss rise (exact knapsack). Where a layer's bits matter is decided by the model's
// loss, not by the layer's own reconstruction error, which misleads (docs/mixed-precision.md).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "nn/model.hpp"
#include "compress/recipe.hpp"

namespace surgeon::model {

struct LayerBudgetOptions {
    double avg_bits = 4.0;              // target over the quantized layers' weights
    std::vector<int> options = {2, 3, 4, 5, 6, 8};
    int64_t sequences = 32;             // calibration sequences used to measure the loss
};

struct LayerBudget {
    std::map<std::string, int> bits;                       // per "layers.<b>.<name>"
    std::map<std::string, std::vector<double>> loss_rise;  // per layer, per option (nats)
    double base_nll = 0.0;
    double avg_bits = 0.0;       // achieved (<= target, within one layer's granularity)
    double predicted_rise = 0.0; // Σ of the chosen layers' loss rises
    nlohmann::json to_json() const;
};

// Measures every layer the recipe quantizes with GPTQ (its plan's grid settings) on the
// dense model and solves the budget. Layers the recipe leaves dense or handles otherwise
// are not part of the budget.
LayerBudget plan_layer_budget(const Model& model, const std::vector<std::vector<int>>& calibration,
                              const Recipe& recipe, const LayerBudgetOptions& options, const ContextPtr& ctx);

// Rules appending the planned widths to a recipe (a mixed layer keeps mixing its rows
// around its planned width).
nlohmann::json layer_budget_rules(const LayerBudget& budget, const Recipe& recipe);

}  // namespace surgeon::model
