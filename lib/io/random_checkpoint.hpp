// Random Llama-family checkpoints of any shape, for benchmarks and tests of the streamed
// pipeline at real model sizes: weights i.i.d. normal with standard deviation 0.02 (the
// embedding and an untied classifier too), norm gains 1. Written block by block through a
// ModelWriter, so memory stays bounded by one block (plus a slice of the embedding),
// whatever the model size.
#pragma once

#include <cstdint>
#include <string>

#include "io/safetensors.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

// Writes the checkpoint to `path`: a llama2.c file when it ends in ".bin" (`dtype` must be
// F32), else an HF directory (F32, F16 or BF16, shards of at most `max_shard_bytes`). The
// FFN width of every dense block is config.hidden_dim. The config's family parts are
// generated too (docs/models.md): q/k/v/o biases (N(0, 0.02²)), q/k norm gains
// (1 + N(0, 0.02²)), and in MoE blocks a router (N(0, 1), so tokens route unevenly), the
// routed experts, the shared expert (config.moe.shared_dim wide) and its gate; the
// expert layout (per-expert or fused) is config.moe.fused. The values depend on `seed` only, not on
// `threads` (0: all hardware threads). An existing finished model at `path` is
// SURGEON_ERR_IO.
void write_random_checkpoint(const std::string& path, const ModelConfig& config, Dtype dtype, uint64_t seed,
                             uint64_t max_shard_bytes, int threads = 0);

}  // namespace surgeon::model
