// Structured FFN pruning: removing neuron i drops row i of w1 (gate) and w3 (up) and
// column i of w2 (down), so the block computes exactly what it computed with that
// neuron's output zeroed — on a smaller model.
#pragma once

#include <cstdint>
#include <vector>

#include "nn/model.hpp"

namespace surgeon::structured {

// Keeps the neurons listed in `keep` (ascending, unique indices < hidden size).
void slice_ffn(model::LayerWeights& layer, const std::vector<int64_t>& keep);

// Indices of the `keep_count` largest scores, ascending (ties: lower index first).
std::vector<int64_t> top_k_indices(const std::vector<float>& scores, int64_t keep_count);

// Neurons kept by the baselines: smallest ‖[gate_i, up_i]‖₂ removed, or a seeded random set.
std::vector<float> l2_scores(const model::LayerWeights& layer);
std::vector<float> random_scores(int64_t hidden, uint64_t seed);

int64_t ffn_hidden(const model::LayerWeights& layer);

}  // namespace surgeon::structured
