// Mixed precision for one layer: importance → per-row bit widths → statistics. This is
// the hook the model pipeline calls per layer, between building the solver and GPTQ:
//
//   RowBits rb = allocate_row_bits(ctx, hessian, solver.inverse_factor(), w, cfg, plan);
//   solver.quantize(w, cfg, &codes, &loss, &rb.bits);   // or solver.prune(..., &rb.bits)
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "core/matrix.hpp"
#include "hessian/hessian.hpp"
#include "quant/allocation.hpp"
#include "quant/importance.hpp"
#include "quant/mixed_stats.hpp"
#include "quant/quantizer.hpp"

namespace surgeon {

enum class Allocator { quantile, budget, error };

Allocator parse_allocator(const std::string& name);  // "quantile" | "budget" | "error"
const char* allocator_name(Allocator a);

struct MixedPlan {
    Allocator allocator = Allocator::error;
    std::vector<int> options = default_bit_options();
    double avg_bits = 4.0;           // target (budget, error; quantile when no cut points)
    std::vector<double> quantiles;   // quantile cut points; empty: quantiles_for_target
    ImportanceWeights weights;
    OverheadModel overhead;
    BudgetSolverOptions solver;

    void validate() const;
    // Keys: allocator, avg_bits, options [..], quantiles [..], weights {activation, hessian,
    // weight, output, variance}, scale_bits, zero_bits. Unknown keys are errors.
    void apply(const nlohmann::json& spec);
    nlohmann::json to_json() const;
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
RowBits allocate_row_bits(const Context& ctx, const Hessian& h, const Matrix& u, ConstMatView w,
                          const QuantConfig& cfg, const MixedPlan& plan);

}  // namespace surgeon
