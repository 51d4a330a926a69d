// Mixed precision for one layer: importance → per-row bit widths → statistics. This is
// the hook the model pipeline calls per layer, between building the solver and GPTQ:
//
//   RowBits rb = allocate_row_bits(ctx, hessian, solver.inverse_factor(), w, cfg, plan);
//   solver.quantize(w, cfg, &codes, &loss, &rb.bits);   // or solver.prune(..., &rb.bits)
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "core/matrix.hpp"
#include "layer/hessian/hessian.hpp"
#include "layer/quant/allocation.hpp"
#include "layer/quant/importance.hpp"
#include "layer/quant/mixed_stats.hpp"
#include "layer/quant/quantizer.hpp"

namespace surgeon {

enum class Allocator { quantile, budget, error };

Allocator parse_allocator(const std::string& name);  // "quantile" | "budget" | "error"
const char* allocator_name(Allocator a);

enum class ErrorNormalization { none, energy, uniform };
ErrorNormalization parse_error_normalization(const std::string& name);  // none|energy|uniform
const char* error_normalization_name(ErrorNormalization n);

struct MixedPlan {
    Allocator allocator = Allocator::error;
    std::vector<int> options = default_bit_options();
    double avg_bits = 4.0;           // target (budget, error; quantile when no cut points)
    std::vector<double> quantiles;   // quantile cut points; empty: quantiles_for_target
    // Error allocator: what a row's error is measured against.
    //  - none: absolute output error, so the layer's total output error is minimised;
    //  - energy: divided by the row's output energy w_i H w_iᵀ, so the sum of per-row
    //    relative errors is minimised (every output channel counts the same);
    //  - uniform: divided by the row's own error at the width nearest avg_bits, so rows
    //    leave the uniform width only where their error curve is unusually steep or flat.
    ErrorNormalization normalize = ErrorNormalization::none;
    ImportanceWeights weights;
    OverheadModel overhead;
    BudgetSolverOptions solver;

    void validate() const;
};

struct RowBits {
    std::vector<int> bits;                // one width per row
    std::optional<Importance> importance; // quantile and budget allocators
    std::vector<double> errors;           // error allocator: rows × options
    MixedStats stats;
};

// u: the solver's inverse factor (Solver::inverse_factor()), for diag(H⁻¹) and the GPTQ
// error weights. cfg: the quantizer the rows will be quantized with (group size, grid
// settings). w: rows × cols with cols = h.cols().
// The error allocator always uses the rounding estimate here (plan.error_model is the
// caller's business); column_weight (optional, cols entries) replaces its 1/U_jj² weights,
// e.g. diag(H) for round-to-nearest, whose error is not GPTQ's.
RowBits allocate_row_bits(const Context& ctx, const Hessian& h, const Matrix& u, ConstMatView w,
                          const QuantConfig& cfg, const MixedPlan& plan,
                          const std::vector<float>* column_weight = nullptr);

// The error allocator over errors measured by the caller (rows × plan.options, row-major).
RowBits allocate_from_errors(std::vector<double> errors, int64_t rows, int64_t cols,
                             const QuantConfig& cfg, const MixedPlan& plan);

}  // namespace surgeon
