// Compressing the linears of one block, as the whole-model passes need it: the Hessian of
// a group of linears that read the same input, one layer by its plan (pruning, GPTQ,
// RTN, mixed precision), and the row costs of the mixed-precision error allocator.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/context.hpp"
#include "layer/hessian/hessian.hpp"
#include "nn/forward.hpp"
#include "compress/pipeline.hpp"
#include "compress/recipe.hpp"
#include "layer/solver/solver.hpp"

namespace surgeon::model {

// The linears of a block grouped by the captured input they share, in block order.
struct Group {
    LinearInput tap;
    std::vector<const char*> linears;
};

inline const Group kGroups[] = {
    {LinearInput::attn_in, {"wq", "wk", "wv"}},
    {LinearInput::attn_out_in, {"wo"}},
    {LinearInput::ffn_in, {"w1", "w3"}},
    {LinearInput::down_in, {"w2"}},
};

// Adds Σ_t d(t, c)² to sq[c] for every column c of d (sq grows to d.cols): the SwiGLU
// output's second moments that the downstream row sensitivity of w1/w3 reads.
void add_column_squares(const Matrix& d, std::vector<double>& sq);

// Where a layer sits, for the row sensitivity of the error allocator.
struct LayerSite {
    const ModelConfig* config = nullptr;
    const LayerWeights* layer = nullptr;
    std::string linear;                            // wq, wk, ...
    const std::vector<double>* down_sq = nullptr;  // Σ h² of the SwiGLU output (w1/w3 group)
    const std::vector<double>* fisher = nullptr;   // output Fisher of the layer's rows
};

// Row costs (rows × plan.mixed->options) of the error allocator for a mixed layer: each
// row's error at every option (the rounding estimate or, with the "solver" error model,
// the real output error (ΔW H ΔWᵀ)_ii of a copy compressed by the layer's own method at
// that width), multiplied by the plan's row sensitivity (none, the downstream proxy, or
// ¼·Fisher: predicted NLL rise in nats) and normalised as the plan says.
std::vector<double> mixed_row_costs(const Context& c, const LayerPlan& plan, const Matrix& w,
                                    const Hessian& h, Solver& solver, const LayerSite& site);

// Solvers of one Hessian, shared by the layers of a group, keyed by (damping, block size).
using SolverCache = std::map<std::pair<double, int64_t>, std::unique_ptr<Solver>>;

// The cache's solver for the plan's damping and block size, built from h on first use.
Solver& solver_for(SolverCache& solvers, const ContextPtr& ctx, const Hessian& h, const LayerPlan& plan);

// Compresses w in place by its plan, filling out's loss, rel_error, quant and mixed.
// `h` may be null for a SparseGPT or GPTQ plan (without mixed precision) whose solver is
// already in `solvers`: the solver's copy of H serves the relative error too.
void compress_layer(const ContextPtr& ctx, const LayerPlan& plan, Matrix& w, const Hessian* h,
                    SolverCache& solvers, const LayerSite& site, CompressedLayer& out);

}  // namespace surgeon::model
