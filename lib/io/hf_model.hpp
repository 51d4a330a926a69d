// Hugging Face Llama-family checkpoints (Llama, Mistral, Qwen2/3, Mixtral, Qwen2/3-MoE; see
// docs/models.md) (config.json + model.safetensors or sharded
// safetensors) <-> model::Model.
//
// HF keeps q_proj/k_proj rows ordered for "rotate half" RoPE (the first half of each head
// pairs with the second half); llama2.c (our Model) rotates adjacent pairs (2i, 2i+1).
// The row maps below convert between the two; see docs/formats.md.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nn/model.hpp"
#include "io/safetensors.hpp"

namespace surgeon::model {

// True when `path` is a directory holding config.json.
bool is_hf_dir(const std::string& path);

// Loads an HF Llama directory whole: materialize(*open_hf(dir, source_dtype))
// (io/model_reader.hpp reads it, with the checks and errors described there). Per-layer
// FFN sizes come from the tensor shapes (structured pruning may leave them unequal).
// GPTQ-packed linears (qweight/qzeros/scales/g_idx, see gptq_export.hpp) are dequantized to
// fp32. `source_dtype` (nullable) receives the dtype of the token embedding as stored.
Model load_hf(const std::string& dir, Dtype* source_dtype = nullptr);

// Writes config.json and model.safetensors (tensors in `dtype`: F32, F16 or BF16) through
// a ModelWriter (io/model_writer.hpp), replacing a model already in `dir`. A tied
// classifier is written as tie_word_embeddings without an lm_head tensor. Creates `dir`.
void save_hf(const Model& model, const std::string& dir, Dtype dtype);

// config.json of a model with `config` and one FFN width per block in `ffn_sizes`
// (intermediate_size is the widest; unequal widths are listed as
// surgeon_intermediate_sizes). The Model overload takes the widths from w1.
nlohmann::ordered_json hf_config(const ModelConfig& config, const std::vector<int64_t>& ffn_sizes, Dtype dtype);
nlohmann::ordered_json hf_config(const Model& model, Dtype dtype);

// HF tensor name prefix of block `layer`: "model.layers.<layer>.".
std::string hf_layer_prefix(int64_t layer);

// HF tensor name prefix of a block linear: ("wq", 3) -> "model.layers.3.self_attn.q_proj".
std::string hf_linear_prefix(int64_t layer, const std::string& llama2c_name);

// The same for a block of a model of `config`: in a MoE block w1/w2/w3 are the shared
// expert ("model.layers.3.mlp.shared_expert.gate_proj").
std::string hf_linear_prefix(const ModelConfig& config, int64_t layer, const std::string& llama2c_name);

// Where a MoE block keeps its router and experts: "model.layers.<layer>.block_sparse_moe."
// for Mixtral's per-expert tensors, else "model.layers.<layer>.mlp.".
std::string hf_moe_prefix(const ModelConfig& config, int64_t layer);
// A routed expert's linear (w1, w2 or w3) in the per-expert layout:
// "...block_sparse_moe.experts.<e>.w1" (Mixtral) or "...mlp.experts.<e>.gate_proj" (Qwen).
std::string hf_expert_linear_prefix(const ModelConfig& config, int64_t layer, int64_t expert, const std::string& w);
// The HF name of the per-head q/k norm or a q/k/v/o bias: "q_norm", "k_norm", "bq", "bk",
// "bv", "bo" -> "model.layers.<layer>.self_attn.q_norm.weight", "...q_proj.bias", ...
std::string hf_attention_extra(int64_t layer, const std::string& part);

// The values of a q/k bias or norm (one entry per row of a q/k projection split in
// `heads` heads) between the layouts, as for the projection's rows.
std::vector<float> permute_qk_vector_to_hf(const std::vector<float>& v, int64_t heads);
std::vector<float> unpermute_qk_vector_from_hf(const std::vector<float>& v, int64_t heads);

// The llama2.c name of a linear given by its HF projection name ("q_proj" or
// "self_attn.q_proj" -> "wq"); any other name comes back unchanged.
std::string llama2c_linear_name(const std::string& name);

// Row order between the layouts for a q (n_heads) or k (n_kv_heads) projection with
// `rows` = heads × head_size: hf_row[i] = llama2c_row[order[i]].
std::vector<int64_t> hf_qk_row_order(int64_t rows, int64_t heads);
Matrix permute_qk_to_hf(const Matrix& w, int64_t heads);    // llama2.c -> HF
Matrix unpermute_qk_from_hf(const Matrix& w, int64_t heads);  // HF -> llama2.c

}  // namespace surgeon::model
