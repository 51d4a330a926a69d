// In-memory Llama-family model, fp32, in llama2.c conventions: matrices are [out][in]
// row-major and RoPE rotates adjacent pairs (2i, 2i+1). Readers for other layouts (Hugging
// Face rotate-half q/k) convert into this form; writers convert back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/matrix.hpp"

namespace surgeon::model {

// Token ids every llama2.c vocabulary reserves (io/tokenizer.hpp): unknown, begin and end
// of a sequence.
constexpr int kUnkToken = 0, kBosToken = 1, kEosToken = 2;

struct ModelConfig {
    int64_t dim = 0;          // hidden size
    int64_t hidden_dim = 0;   // FFN intermediate size (per layer when sliced: see LayerWeights)
    int64_t n_layers = 0;
    int64_t n_heads = 0;
    int64_t n_kv_heads = 0;
    // Width of one attention head; 0 means dim / n_heads (every llama2.c file). Set when
    // heads were removed: q then has n_heads·head_dim rows while dim (the residual
    // width) stays.
    int64_t head_dim = 0;
    int64_t vocab_size = 0;
    int64_t seq_len = 0;      // maximum context
    float norm_eps = 1e-5f;
    float rope_theta = 10000.0f;
    bool shared_classifier = true;  // output projection tied to the token embedding

    int64_t head_size() const { return head_dim > 0 ? head_dim : dim / n_heads; }
    int64_t q_dim() const { return head_size() * n_heads; }    // rows of wq, columns of wo
    int64_t kv_dim() const { return head_size() * n_kv_heads; }  // rows of wk, wv
    // Valid head layout: heads of one even size, query heads a multiple of the kv heads,
    // and head_dim = 0 only when dim splits evenly.
    bool attention_consistent() const;
};

struct LayerWeights {
    std::vector<float> rms_att;  // dim
    Matrix wq;                   // q_dim × dim
    Matrix wk;                   // kv_dim × dim
    Matrix wv;                   // kv_dim × dim
    Matrix wo;                   // dim × q_dim
    std::vector<float> rms_ffn;  // dim
    Matrix w1;                   // gate: hidden × dim
    Matrix w2;                   // down: dim × hidden
    Matrix w3;                   // up:   hidden × dim
};

struct Model {
    ModelConfig config;
    Matrix tok_emb;                    // vocab × dim
    std::vector<LayerWeights> layers;  // n_layers
    std::vector<float> rms_final;      // dim
    Matrix wcls;                       // vocab × dim; empty when shared_classifier

    const Matrix& classifier() const { return config.shared_classifier ? tok_emb : wcls; }
};

// The seven linear layers of a block, by their llama2.c names.
inline const char* const kLinearNames[] = {"wq", "wk", "wv", "wo", "w1", "w2", "w3"};
Matrix& linear(LayerWeights& layer, const std::string& name);  // throws on unknown name
const Matrix& linear(const LayerWeights& layer, const std::string& name);

// Checks that every matrix and norm of `model` has the size its config implies (the FFN
// size taken from each layer's w1). Throws SURGEON_ERR_SHAPE naming the first mismatch.
void validate_shapes(const Model& model);

}  // namespace surgeon::model
