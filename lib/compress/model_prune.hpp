// Structured pruning of a whole model: choose the FFN neurons every block keeps (PruneNet
// policy, random or smallest-L2 baselines, uniform or spectral per-block ratios), slice
// them out, optionally remove whole attention kv groups chosen from the o-projection
// spectrum, and write the smaller model.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "nn/model.hpp"
#include "structured/prunenet.hpp"

namespace surgeon::structured {

enum class Method { prunenet, random, l2 };
Method parse_method(const std::string& name);  // "prunenet" | "random" | "l2"
const char* method_name(Method method);

// Neurons kept by each block, ascending indices.
using Selection = std::vector<std::vector<int64_t>>;

// Scores of every block's neurons (higher = keep) by `method`; `policy` is needed for
// prunenet, `seed` for random (block b uses seed + b).
std::vector<std::vector<float>> ffn_scores(const model::Model& model, Method method, const Policy* policy,
                                           uint64_t seed);

// Per-block removal ratios from the spectral distance each block suffers when its
// lowest-scored neurons are removed at the uniform `ratio` (see spectral_layer_ratios).
std::vector<double> spectral_ratios(Backend& be, const model::Model& model, const std::vector<std::vector<float>>& scores,
                                    double ratio, double max_ratio = 0.9);

// Top-scored neurons of each block at its own ratio.
Selection select_ffn(const model::Model& model, const std::vector<std::vector<float>>& scores,
                     const std::vector<double>& ratios);

// Slices every block (config.hidden_dim becomes the widest remaining FFN).
void slice_model_ffn(model::Model& model, const Selection& keep);

// Attention heads: with grouped-query attention the n_heads / n_kv_heads query heads of a kv
// head share its keys and values, so heads are removed by whole kv groups (the group size,
// hence the forward pass's head layout, stays valid). Group g of a block is scored by the
// KS distance between the spectrum of wo and that of wo without the group's columns; the
// `count` groups with the smallest distances go.
std::vector<double> kv_group_distances(Backend& be, const model::ModelConfig& config, const model::LayerWeights& layer);
// The `count` groups of `layer` with the smallest distances, ascending (a block keeps one).
std::vector<int64_t> choose_kv_groups(Backend& be, const model::ModelConfig& config, const model::LayerWeights& layer,
                                      int64_t count);
// Zeroes the groups' wq/wk/wv rows and wo columns, shapes kept: what the block computes
// without those heads (the reference remove_kv_groups is checked against).
void silence_kv_groups(const model::ModelConfig& config, model::LayerWeights& layer,
                       const std::vector<int64_t>& groups);
// Cuts the groups out: block l loses the wq/wk/wv rows and wo columns of groups[l]
// (ascending, unique). The config holds one head count for all blocks, so every block
// must remove the same number of groups (which ones may differ); n_heads and n_kv_heads
// shrink and config.head_dim keeps the head size (n_heads · head_dim < dim afterwards,
// which llama2.c files cannot express: save as a Hugging Face directory).
void remove_kv_groups(model::Model& model, const std::vector<std::vector<int64_t>>& groups);

struct PruneOptions {
    double ratio = 0.3;  // fraction of FFN neurons removed (over the whole model)
    Method method = Method::prunenet;
    uint64_t seed = 1;
    bool spectral_layer_ratios = false;
    double head_ratio = 0.0;       // fraction of kv groups removed per block (same count in all)
    std::optional<Policy> policy;  // prunenet: reuse this policy instead of training one
    TrainOptions train;            // prunenet training (ratio and seed are taken from above)
};

struct PruneReport {
    int64_t params_before = 0, params_after = 0;
    std::vector<double> layer_ratios;        // removal ratio applied per block
    std::vector<int64_t> ffn_sizes;          // kept neurons per block
    std::vector<std::vector<int64_t>> heads_silenced;  // kv groups removed per block (original indices)
    double train_seconds = 0.0, prune_seconds = 0.0;
    std::optional<Policy> policy;            // the policy used (trained or given)
    std::vector<double> train_rewards;       // per restart: total top-k reward (training)
    int train_chosen = 0;                    // the restart kept
};

PruneReport prune_model(model::Model& model, const PruneOptions& options, const Context& ctx);

// Parameters minus the exact zeros of the attention matrices (silenced heads). Equal to
// parameter_count for models whose heads were removed rather than silenced.
int64_t effective_parameters(const model::Model& model);

}  // namespace surgeon::structured
