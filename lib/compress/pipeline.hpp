// True-sequential whole-model compression (the SparseGPT/GPTQ protocol): block by block,
// the inputs of each group of linears are captured from calibration sequences that ran
// through the already-compressed blocks, and each group's inputs are recomputed after the
// previous group of the same block was compressed:
//   [wq, wk, wv] (one Hessian) → wo → [w1, w3] (one Hessian) → w2.
// Mixed precision may add two passes over the dense model first: the output Fisher (for
// Fisher-weighted row errors) and the plan of a model-wide bit budget (row_budget.hpp).
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "nn/model.hpp"
#include "compress/recipe.hpp"
#include "compress/row_budget.hpp"
#include "layer/quant/mixed_stats.hpp"
#include "layer/quant/quantizer.hpp"

namespace surgeon::model {

struct CompressedLayer {
    std::string name;  // "layers.<block>.<linear>"
    LayerPlan plan;
    int64_t rows = 0, cols = 0;
    double sparsity = 0.0;                // fraction of exact zeros after compression
    std::optional<double> loss;           // OBS loss (sparsegpt, gptq)
    std::optional<double> rel_error;      // tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) on the calibration inputs
    double seconds = 0.0;
    std::optional<QuantResult> quant;     // codes for packed export
    std::optional<MixedStats> mixed;      // mixed precision: where the bits went
    // A routed expert's linear: the calibration tokens routed to its expert, and the
    // fallback it took when they were fewer than the recipe's moe.min_tokens ("" none).
    std::optional<int64_t> routed_tokens;
    std::string fallback;
};

// One block of a run: its seconds (loading, calibration, solves, writing) and the peak
// resident memory of the process when it was done.
struct BlockRecord {
    int64_t block = 0;
    double seconds = 0.0;
    uint64_t peak_rss_bytes = 0;
};

struct CompressionReport {
    std::vector<CompressedLayer> layers;
    std::vector<BlockRecord> blocks;  // in block order
    int64_t resumed_at_block = -1;    // the first block this process compressed after a resume
    int64_t calibration_sequences = 0, calibration_tokens = 0;
    std::optional<RowBudget> row_budget;  // the plan of a model-wide budget, when used
    double seconds = 0.0;
    int ranks = 1;                     // processes of a data-parallel run (compress/reducer.hpp)
    std::vector<double> rank_seconds;  // each rank's seconds, in rank order (streamed runs)
    // Sum of the mixed-precision layers' statistics (nullopt when none is mixed).
    std::optional<MixedStats> mixed_total() const;
    // Per layer: method, shape, sparsity, bits (the average for a mixed layer), loss,
    // rel_error, seconds and, when mixed, "mixed" (allocator + MixedStats); at the top the
    // calibration figures, linear_params / linear_sparsity, "mixed" (the model total),
    // "blocks" [{block, seconds, peak_rss_bytes}], peak_rss_bytes, "ranks", "rank_seconds"
    // (when known) and, after a resume, resumed_at_block.
    nlohmann::json to_json() const;
};

// Whether some layer of the recipe is mixed with the error allocator and Fisher
// sensitivity: compress_model then first measures the output Fisher of the dense model on
// the calibration sequences (one forward and backward pass each).
bool needs_output_fisher(const Model& model, const Recipe& recipe);

// Called with (blocks done, total blocks) before the first block and after each block.
using BlockProgress = std::function<void(int64_t done, int64_t total)>;

// Compresses `model` in place. `calibration` holds token sequences (each starting with BOS
// as evaluation does). Layers whose plan is dense are left untouched.
CompressionReport compress_model(Model& model, const std::vector<std::vector<int>>& calibration,
                                 const Recipe& recipe, const ContextPtr& ctx,
                                 const BlockProgress& progress = {});

}  // namespace surgeon::model
