// Checkpoint conversion between llama2.c .bin files and Hugging Face directories, through
// the in-memory Model (fp32, llama2.c layout). f32 conversions are bit-exact both ways.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "io/gguf.hpp"
#include "io/safetensors.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

struct ConvertOptions {
    std::optional<ModelFormat> format;  // default: the other format than the input's
    std::optional<Dtype> dtype;         // HF output: default the source dtype (F32 from llama2.c)
};

struct ConvertReport {
    ModelFormat from = ModelFormat::llama2c, to = ModelFormat::hf;
    Dtype source_dtype = Dtype::F32, dtype = Dtype::F32;
    int64_t parameters = 0;
    std::vector<std::string> warnings;  // information lost on the way (GPTQ layers dequantized)
};

int64_t parameter_count(const Model& model);

// Reads `in`, writes `out` (a file for llama2.c, a directory for HF). llama2.c output is
// float32 only (another dtype is SURGEON_ERR_INVALID_ARGUMENT).
ConvertReport convert_model(const std::string& in, const std::string& out, const ConvertOptions& options);

// Reads `in` (either format) and writes a GGUF file at `out` (io/gguf.hpp) of `type`:
// f32, f16 or bf16 for every matrix, or q8_0 / q4_0 by ggml's round-to-nearest for the
// linear layers (as llama-quantize does; a layer whose width is not a multiple of 32 in
// F16) with token_embd and output in Q8_0. The tokenizer is `tokenizer_path`, or the
// llama2.c tokenizer found beside the model (SURGEON_ERR_IO when there is none).
// `report` (nullable) receives the source format, dtype and parameter count.
GgufSummary convert_to_gguf(const std::string& in, const std::string& out, GgufType type,
                            const std::string& tokenizer_path, ConvertReport* report = nullptr);

}  // namespace surgeon::model
