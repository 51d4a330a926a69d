// The one entry point that turns a user's --model argument into a Model, whatever its
// format: a llama2.c checkpoint file or a Hugging Face directory (config.json +
// safetensors, GPTQ-packed linears dequantized).
#pragma once

#include <string>

#include "nn/model.hpp"

namespace surgeon::model {

// Throws SURGEON_ERR_IO when `path` is missing or not a readable model.
Model load_model(const std::string& path);

// A llama2.c tokenizer stored beside a model file: tok<vocab_size>.bin, then tokenizer.bin,
// in the model's folder (or inside it, for a directory). Returns "" when there is none.
std::string find_tokenizer_beside(const std::string& model_path, int64_t vocab_size);

// Copies the tokenizer file (nothing when the path is "") into a saved model directory, so
// find_tokenizer_beside finds it when the directory is loaded back. Throws SURGEON_ERR_IO.
void copy_tokenizer_into(const std::string& tokenizer_path, const std::string& dir);

}  // namespace surgeon::model
