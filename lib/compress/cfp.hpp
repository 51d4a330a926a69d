// Coarse-to-fine outlier preprocessing (CFP) of CBQ (Ding et al., ICLR 2025) for one
// transformer block, run before quantization: activation outlier channels are scaled down
// with the scale folded into the neighbouring weights (the float block computes the same
// function), then weight outliers are truncated.
//
// Outliers of a set of non-negative magnitudes are found in two stages:
// - coarse: the candidates are the values above T = Q3 + k·IQR, the quartiles taken with
//   linear interpolation between order statistics (numpy's default: the q-quantile of n
//   sorted values sits at position q·(n − 1));
// - fine: the candidates, sorted, are cut in two, "top" (the outliers) above the cut and
//   "rest" below it. The rest also holds T itself, so it is never empty and a cut below
//   every candidate (all of them outliers) is allowed. The cut taken maximizes
//   (mean(top) − mean(rest))² − (var(top) + var(rest)) (population variances); it never
//   separates equal values, and among equal scores the lowest cut (most outliers) wins.
//   The fine threshold is the largest value of the rest: the largest candidate that is not
//   an outlier, or T when every candidate is one. Outliers are exactly the values above it.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/backend.hpp"
#include "nn/forward.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

struct OutlierSplit {
    double coarse_threshold = 0;  // Q3 + k·IQR (0 for an empty set)
    // The largest value of the fine stage's rest (see above); the maximum of the set when
    // there are no candidates; 0 for an empty set.
    double fine_threshold = 0;
    int64_t coarse = 0;  // candidates: values > coarse_threshold
    int64_t fine = 0;    // outliers: values > fine_threshold
};

// Throws SURGEON_ERR_INVALID_ARGUMENT for a negative or non-finite magnitude or iqr_k < 0.
// O(n) time apart from sorting the candidates.
OutlierSplit find_outliers(const std::vector<float>& magnitudes, double iqr_k = 1.5);

struct CfpOptions {
    bool weights = true;      // truncate weight outliers
    bool activations = true;  // scale down activation outlier channels
    double iqr_k = 1.5;
    // Per linear (kLinearNames order): whether its weights are truncated (those that stay
    // float are left whole).
    bool truncate[7] = {true, true, true, true, true, true, true};
};

struct CfpBlockReport {
    // Per linear input site (nn/forward.hpp's LinearInput order: attn_in, attn_out_in,
    // ffn_in, down_in): channels scaled, and the fine threshold of the channel maxima they
    // were scaled to (0 when activations were not processed). At attn_out_in a channel is
    // one of v (kv_dim of them), shared by the query heads of its group.
    int64_t act_channels[kLinearInputs] = {0, 0, 0, 0};
    double act_threshold[kLinearInputs] = {0, 0, 0, 0};
    // Per linear in kLinearNames order: weights clamped and the fine threshold of |w| they
    // were clamped to (0 when weights were not processed).
    int64_t weight_clamped[7] = {0, 0, 0, 0, 0, 0, 0};
    double weight_threshold[7] = {0, 0, 0, 0, 0, 0, 0};
    int64_t weight_outliers = 0;  // sum of weight_clamped

    nlohmann::json to_json() const;
};

// Preprocesses one block in place given calibration inputs `xs` (block inputs, T × dim each).
//
// 1. Activations (options.activations), site by site in forward order. The per-channel
//    maximum |value| over every token of every x is taken from the captured inputs of the
//    block as folded so far; each outlier channel i of those maxima gets
//    s_i = fine_threshold / max_i (< 1) and the scale is folded:
//      attn_in:     rms_att[i] *= s_i; columns i of wq, wk, wv /= s_i
//      attn_out_in: channel (h, d) of the wo input is a convex combination of v channel
//                   (g, d), g = h / (n_heads / n_kv_heads); the maxima are per v channel
//                   (over the heads of its group); wv row (g, d) and bv[(g, d)] *= s,
//                   wo column (h, d) /= s for every head h of group g
//      ffn_in:      rms_ffn[i] *= s_i; columns i of w1, w3 /= s_i
//      down_in:     w3 row i *= s_i; w2 column i /= s_i
//    Each fold leaves the block output and the other sites' values unchanged in exact
//    arithmetic; in float they move by rounding only. The captures are nevertheless retaken
//    after each site, so every site's maxima are those of the block as it is then.
//    A channel is scaled only when its scale is positive and finite.
// 2. Weights (options.weights, after the folds): for each of the seven linears, the
//    outliers of |w| over the whole tensor; every weight with |w| > fine_threshold is
//    clamped to ±fine_threshold (rounded towards 0 to float). A tensor whose fine threshold
//    is 0 (possible when three quarters of it or more are zero, as after pruning) is left as it is.
//
// Throws SURGEON_ERR_UNSUPPORTED for a Mixture-of-Experts block or one with q/k norms,
// SURGEON_ERR_SHAPE for a block or input whose sizes do not match `config`, and
// SURGEON_ERR_INVALID_ARGUMENT for no inputs when activations are processed.
CfpBlockReport cfp_block(Backend& be, const ModelConfig& config, LayerWeights& layer, const std::vector<Matrix>& xs,
                         const CfpOptions& options = {});

}  // namespace surgeon::model
