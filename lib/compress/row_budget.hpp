// Model-wide mixed precision (a "mixed" entry with "scope": "model"): one budget shared by
// every such layer, spent where the model's loss needs it. On the dense model, every row
// of every such layer is priced at every bit option as a predicted rise of the mean
// calibration NLL, ¼·F_i·(ΔW H ΔWᵀ)_ii (F the output Fisher, nn/fisher.hpp; the error
// as the layer's error model says), and one knapsack over all those rows
// (solve_grouped_budget, storage = bits × columns) fixes each layer's total bits. The
// true-sequential pipeline then gives each layer that total as its target and places it
// over the rows again with the errors it measures there.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "nn/fisher.hpp"
#include "nn/model.hpp"
#include "compress/recipe.hpp"

namespace surgeon::model {

struct RowBudget {
    struct Layer {
        int64_t rows = 0, cols = 0;
        int64_t bits = 0;               // Σ of the rows' widths
        double predicted_rise = 0.0;    // nats, at the chosen widths
    };
    std::map<std::string, Layer> layers;  // per "layers.<b>.<linear>" with scope "model"
    double target_bits = 0.0;             // per weight: Σ avg_bits·rows·cols / Σ rows·cols
    double avg_bits = 0.0;                // achieved per weight (<= target)
    double predicted_rise = 0.0;          // Σ over the layers
    // The layer's target for the pipeline (its total bits over its rows).
    double layer_avg_bits(const std::string& name) const;
    nlohmann::json to_json() const;
};

// Whether some layer of the recipe has a mixed entry with scope "model".
bool has_model_scope(const Model& model, const Recipe& recipe);

// Plans the shared budget over the dense model: `states` are the embedded calibration
// sequences (block 0 inputs), `fisher` the output Fisher of the same model.
RowBudget plan_row_budget(const Model& model, std::vector<Matrix> states, const Recipe& recipe,
                          const OutputFisher& fisher, const ContextPtr& ctx);

}  // namespace surgeon::model
