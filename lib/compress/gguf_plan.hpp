// The recipe of `surgeon compress --gguf-out`: quantizing layers on the ggml grid, so that
// their codes and scales are llama.cpp's Q4_0 / Q8_0 blocks (layer/quant/quantizer.hpp,
// GridKind::ggml), and layers whose width is not a multiple of 32 left unquantized —
// llama-quantize cannot give such a tensor 32-value blocks either and falls back to F16
// (io/gguf.hpp). Everything is checked before any work.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nn/model.hpp"

namespace surgeon::model {

// `recipe` (the {"default", "rules"} JSON of compress) with "grid": "ggml" on its default
// and one rule per quantizing layer that cannot hold blocks of 32 — a width not a multiple
// of 32, or the down projection of an FFN narrower than the widest, which the GGUF pads
// with zero columns — ("skip" for gptq and rtn, "bits": null for a pruning method
// quantizing jointly). A quantizing layer whose settings
// the ggml grid cannot take (bits other than 4 and 8, asymmetric, a group other than 32,
// MSE, act-order without static groups, mixed precision, "grid": "affine") is
// SURGEON_ERR_INVALID_ARGUMENT with a one-line message. `left_unquantized` (nullable)
// receives the names of the layers the added rules keep off the grid.
nlohmann::json gguf_recipe(const nlohmann::json& recipe, const ModelConfig& config,
                           const std::vector<int64_t>& ffn_sizes,
                           std::vector<std::string>* left_unquantized = nullptr);

}  // namespace surgeon::model
