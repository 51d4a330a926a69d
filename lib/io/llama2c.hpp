// llama2.c legacy checkpoints (the `.bin` files of karpathy/llama2.c and tinyllamas):
// a header of 7 little-endian int32 {dim, hidden_dim, n_layers, n_heads, n_kv_heads,
// vocab_size, seq_len}, then float32 arrays in a fixed order. A negative vocab_size means
// an unshared classifier is stored after the (unused) RoPE tables.
#pragma once

#include <string>

#include "nn/model.hpp"

namespace surgeon::model {

// Throws SURGEON_ERR_IO for an unreadable, truncated, oversized or inconsistent file.
Model read_llama2c(const std::string& path);

// Writes `model` so llama2.c's run.c can load it (RoPE tables are recomputed from the
// config), through a ModelWriter (io/model_writer.hpp), replacing an existing file. The
// format stores one FFN size: layers with different sizes are SURGEON_ERR_UNSUPPORTED.
void write_llama2c(const Model& model, const std::string& path);

}  // namespace surgeon::model
