// Checkpoints on disk as ModelSources (nn/model_source.hpp): a Hugging Face directory
// (config.json + model.safetensors or shards, GPTQ-packed linears dequantized when their
// block is read) or a llama2.c .bin file. The files are memory-mapped; opening validates
// everything that can be checked without reading tensor data (the config, every tensor's
// name, dtype and shape, the shard index, the file sizes), and each part is read and
// converted to fp32 only when asked for, its mapped pages released afterwards, so a pass
// over the blocks holds one block at a time. Every problem is an error naming the file:
// SURGEON_ERR_IO for missing, malformed or inconsistent files, SURGEON_ERR_UNSUPPORTED for
// well-formed checkpoints of architectures outside the Llama family we model,
// SURGEON_ERR_NUMERIC for a config value that is not a positive finite float (rope_theta
// 1e-300 underflows to 0 in float). Sizes in config.json are checked against the tensors
// block by block before anything is allocated for them.
//
// Reading a part may still fail on its content: a non-finite value in a tensor, a llama2.c
// array or a dequantized GPTQ linear (SURGEON_ERR_NUMERIC naming the file and tensor,
// checked as the part is converted to fp32), a GPTQ group index out of range
// (SURGEON_ERR_IO), or a file changed since it was opened.
// A source holds no mutable state: parts may be read from several threads at once.
#pragma once

#include <memory>
#include <string>

#include "io/safetensors.hpp"
#include "nn/model_source.hpp"

namespace surgeon::model {

// The checkpoint at `path`, by its format (detect_model_format). `source_dtype` (nullable)
// receives the float type of the stored weights: the token embedding's dtype for HF, F32
// for llama2.c.
std::unique_ptr<ModelSource> open_model(const std::string& path, Dtype* source_dtype = nullptr);

// A Hugging Face Llama directory. Per-layer FFN sizes come from the tensor shapes.
std::unique_ptr<ModelSource> open_hf(const std::string& dir, Dtype* source_dtype = nullptr);

// A legacy llama2.c checkpoint (llama2c.hpp describes the layout).
std::unique_ptr<ModelSource> open_llama2c(const std::string& path);

}  // namespace surgeon::model
