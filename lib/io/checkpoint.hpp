// The one entry point between checkpoints on disk and the in-memory Model: the format of
// an existing checkpoint, loading whatever it is, and saving by format (llama2.c file,
// Hugging Face directory) or as a packed GPTQ directory. The CLI, the C API, conversion
// and the structured pruning commands all load and save through these functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "io/ct_export.hpp"
#include "io/gptq_export.hpp"
#include "io/safetensors.hpp"
#include "layer/quant/quantizer.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

enum class ModelFormat { llama2c, hf };
ModelFormat parse_model_format(const std::string& name);  // "hf" | "llama2c"
const char* model_format_name(ModelFormat f);

// Format of an existing checkpoint: a directory with config.json is HF, a file is llama2.c.
// Throws SURGEON_ERR_IO when `path` does not exist or is a directory without config.json.
ModelFormat detect_model_format(const std::string& path);

// Format an output path names: a path ending in ".bin" is a llama2.c file, anything else
// an HF directory.
ModelFormat output_format(const std::string& path);

// Loads a checkpoint of either format whole: materialize(*open_model(path, source_dtype))
// (io/model_reader.hpp; GPTQ-packed HF linears are dequantized). `source_dtype` (nullable)
// receives the float type of the stored weights (F32 for llama2.c). Throws SURGEON_ERR_IO
// when `path` is missing or not a readable model.
Model load_model(const std::string& path, Dtype* source_dtype = nullptr);

struct SaveOptions {
    ModelFormat format = ModelFormat::hf;
    Dtype dtype = Dtype::F32;    // HF tensors: F32, F16 or BF16; llama2.c files are F32 only
    std::string tokenizer_path;  // copied into an HF directory when not ""
    uint64_t max_shard_bytes = 5'000'000'000;  // HF: larger models are sharded
};

// Writes `model` as `options.format` (a file for llama2.c, a directory for HF) through a
// ModelWriter (io/model_writer.hpp), replacing a model already at `path`. A dtype
// other than F32 for llama2.c is SURGEON_ERR_INVALID_ARGUMENT; what the llama2.c header
// cannot hold (per-layer FFN sizes, removed heads, another RoPE theta or norm eps) is
// SURGEON_ERR_UNSUPPORTED (write_llama2c).
void save_model(const Model& model, const std::string& path, const SaveOptions& options);

// A packed GPTQ directory (write_gptq_model) with the tokenizer (when not "") copied in.
GptqExportSummary save_gptq_model(const Model& model, const std::map<std::string, QuantResult>& quantized,
                                  const std::string& dir, const std::string& tokenizer_path,
                                  const GptqExportOptions& options = {});
// A compressed-tensors pack-quantized directory (write_ct_model), likewise.
CtExportSummary save_ct_model(const Model& model, const std::map<std::string, QuantResult>& quantized,
                              const std::string& dir, const std::string& tokenizer_path,
                              const CtExportOptions& options = {});

// A llama2.c tokenizer stored beside a model file: tok<vocab_size>.bin, then tokenizer.bin,
// in the model's folder (or inside it, for a directory). Returns "" when there is none.
std::string find_tokenizer_beside(const std::string& model_path, int64_t vocab_size);

// Copies the tokenizer file (nothing when the path is "") into a saved model directory, so
// find_tokenizer_beside (or, for a tokenizer.json, find_model_tokenizer) finds it when the
// directory is loaded back; a tokenizer.json brings the tokenizer_config.json beside it.
// Throws SURGEON_ERR_IO.
void copy_tokenizer_into(const std::string& tokenizer_path, const std::string& dir);

}  // namespace surgeon::model
