// Mixed precision as a recipe asks for it: the per-layer plan of layer/quant/mixed.hpp plus
// what only the model pipeline implements (it owns the solver, the model and the budget
// shared by layers): the solver error model, the row sensitivity and the budget scope.
#pragma once

#include <string>

#include "layer/quant/mixed.hpp"

namespace surgeon {

// How the error allocator measures a row's error at each option.
//  - rounding: the row's own grid rounding noise weighted by 1/U_jj² (mixed_error.hpp);
//    one rounding pass per option, what allocate_row_bits computes.
//  - solver: the pipeline runs its solver once per option and measures each row's real
//    output error (ΔW H ΔWᵀ)_ii — exact for GPTQ and RTN, whose rows are independent — and
//    allocates from those errors (allocate_from_errors).
enum class ErrorModel { rounding, solver };
ErrorModel parse_error_model(const std::string& name);  // "rounding" | "solver"
const char* error_model_name(ErrorModel m);

enum class RowSensitivity { layer, downstream, fisher };
RowSensitivity parse_row_sensitivity(const std::string& name);  // layer | downstream | fisher
const char* row_sensitivity_name(RowSensitivity s);

enum class BudgetScope { layer, model };
BudgetScope parse_budget_scope(const std::string& name);  // layer | model
const char* budget_scope_name(BudgetScope s);

struct MixedRecipe : MixedPlan {
    ErrorModel error_model = ErrorModel::rounding;
    // Error allocator: what a row's error is multiplied by before the budget is placed
    // (without any, the allocator minimises the layer's own output error, which misleads:
    // a q channel matters by the k it meets, not by its norm).
    //  - layer: nothing;
    //  - downstream: a closed-form proxy of how strongly the channel moves the block
    //    output (q rows by E[k²] of their RoPE pair, k by E[q²], v by ‖wo column‖²,
    //    gate/up by ‖w2 column‖² and the SwiGLU gain);
    //  - fisher: ¼ × the output Fisher of the channel (nn/fisher.hpp), measured by
    //    backpropagating the calibration loss through the dense model: row errors become
    //    predicted rises of the mean NLL in nats.
    RowSensitivity sensitivity = RowSensitivity::fisher;
    // Where the budget is met. layer: every layer meets avg_bits itself; model: the layers
    // with scope "model" share one budget (Σ avg_bits × weights) and a model-wide knapsack
    // over their rows (needs sensitivity "fisher" and normalize "none": costs in nats,
    // comparable across layers) decides each layer's share before the pipeline runs.
    BudgetScope scope = BudgetScope::layer;

    void validate() const;  // MixedPlan::validate and the scope's needs
};

}  // namespace surgeon
