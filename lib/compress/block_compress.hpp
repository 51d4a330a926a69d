// One block of the true-sequential protocol (SparseGPT/GPTQ): the block's linears are
// compressed group by group in block order,
//   [wq, wk, wv] (one Hessian) → wo → [w1, w3] (one Hessian) → w2,
// each group's Hessian accumulated from its inputs on the calibration sequences as they
// are after the groups before it were compressed. Each step keeps what the next one needs
// (the attention output, the residual stream, the FFN input, the SwiGLU output), so every
// linear's GEMM runs once per sequence and nothing before it is recomputed; the Hessian of
// a group is accumulated from the same buffer the step produced (no second copy).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "compress/activations.hpp"
#include "compress/pipeline.hpp"
#include "compress/recipe.hpp"
#include "compress/reducer.hpp"
#include "layer/hessian/hessian.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

struct OutputFisher;  // nn/fisher.hpp

// What a block's plans may read beyond the block itself.
struct BlockExtras {
    const OutputFisher* fisher = nullptr;   // Fisher-weighted mixed layers
    const RowBudget* row_budget = nullptr;  // layers of a model-wide budget
};

// The plan of a layer in a run: the recipe's, with its share of a model-wide budget.
LayerPlan layer_plan(const Recipe& recipe, const std::string& layer_name, const RowBudget* row_budget);

// Seconds compress_block spent by kind of work: the block's own computation (GEMMs,
// attention, norms), the Hessians (and Σ h² of the SwiGLU output), compressing the
// layers (solver factorizations and the methods), moving activations to and from the
// stores.
struct BlockTimings {
    double forward = 0.0, hessian = 0.0, compress = 0.0, io = 0.0;
};

// One sequence's leaf of a group's tree sum (compress/tree_sum.hpp): the raw state of a
// Hessian accumulator fed the sequence's input rows alone (the upper triangle of Σ xᵀx by
// one fp32 SYRK from zero, the column sums, the row count) and, when `swiglu_out` is
// given, Σ h² of the SwiGLU output per column.
std::vector<double> group_leaf(const ContextPtr& ctx, const Matrix& input, const Matrix* swiglu_out);
// group_leaf added into `sum` (a sum of leaves of this group), or assigned to an empty `sum`,
// without holding the leaf: the same bits as adding group_leaf's result.
void add_group_leaf(const ContextPtr& ctx, const Matrix& input, const Matrix* swiglu_out, std::vector<double>& sum);
// The group's Hessian of `cols` columns from the root of its tree sum (S rounded to fp32,
// as an accumulator holds it; `root` is released before the accumulator is formed); `down_sq`
// receives Σ h² (empty when the leaves had none).
std::unique_ptr<Hessian> hessian_of_root(const ContextPtr& ctx, int64_t cols, std::vector<double> root,
                                         std::vector<double>& down_sq);

// This rank's part of a data-parallel run (compress/reducer.hpp): `states` holds the
// calibration sequences [first, first + states.size()) of `total`. With no reducer the run
// is one process holding every sequence.
struct DataShare {
    Reducer* reducer = nullptr;
    int64_t first = 0, total = 0;
};

// Compresses block `b` (weights `layer`, in place) by `recipe` on the calibration
// `states` (the block's inputs, one T × dim matrix per sequence), then replaces each state
// by the block's output on it. Appends one CompressedLayer per linear, in the groups'
// order (wq, wk, wv, wo, w1, w3, w2).
// Scratch activations come from `stores` (one store of states.size() slots). With no
// calibrated plan in the block, the states only run through it. `timings`, when given,
// receives the seconds spent (added to what it holds).
//
// Each group's Hessian (with its column sums, and Σ h² of the SwiGLU output when a plan
// reads it) is the fixed-tree fp64 sum of one accumulator per sequence (compress/
// tree_sum.hpp), rounded to fp32: the same bits for any split of the sequences. With
// several ranks (`share`), the tree's nodes go to the owners of the group's linears (round
// robin over the linears of the run, block after block), each owner compresses its
// linears and broadcasts weights and report entries, and every rank appends the same
// layers; an error of one rank is thrown on every rank as a JobError.
void compress_block(int64_t b, const ModelConfig& config, LayerWeights& layer, ActivationStore& states,
                    const Recipe& recipe, const BlockExtras& extras, const ActivationStores& stores,
                    const ContextPtr& ctx, std::vector<CompressedLayer>& out, BlockTimings* timings = nullptr,
                    const DataShare& share = DataShare{});

}  // namespace surgeon::model
