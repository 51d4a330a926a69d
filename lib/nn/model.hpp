// In-memory Llama-family model, fp32, in llama2.c conventions: matrices are [out][in]
// row-major and RoPE rotates adjacent pairs (2i, 2i+1). Readers for other layouts (Hugging
// Face rotate-half q/k) convert into this form; writers convert back.
//
// One block description covers the families of docs/models.md: the Llama block plus
// optional q/k/v (and o) biases, per-head q/k RMSNorm, RoPE scaling, sliding-window
// attention and a Mixture-of-Experts FFN (a router, routed experts and an optional gated
// shared expert). Every optional part is empty when the family does not have it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/matrix.hpp"

namespace surgeon::model {

// Token ids every llama2.c vocabulary reserves (io/tokenizer.hpp): unknown, begin and end
// of a sequence.
constexpr int kUnkToken = 0, kBosToken = 1, kEosToken = 2;

// RoPE frequency scaling (transformers' rope_scaling): none, linear (positions divided by
// factor), dynamic NTK (the base grows once the context exceeds original_max_positions)
// and llama3 (low frequencies divided by factor, a smooth ramp between low_freq_factor and
// high_freq_factor wavelengths).
enum class RopeScalingKind { none, linear, dynamic, llama3 };
struct RopeScaling {
    RopeScalingKind kind = RopeScalingKind::none;
    double factor = 1.0;
    double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
    int64_t original_max_positions = 0;                    // llama3, dynamic
};

// The Mixture-of-Experts FFN of a family (n_experts = 0: every FFN is dense).
struct MoeConfig {
    int64_t n_experts = 0;
    int64_t top_k = 0;             // experts per token
    int64_t expert_dim = 0;        // FFN width of one routed expert
    int64_t shared_dim = 0;        // width of the gated shared expert (0: none)
    bool norm_topk_prob = false;   // the top-k softmax weights renormalized to sum 1
    bool fused = false;            // stored as 3-D gate_up_proj / down_proj tensors
    int64_t sparse_step = 1;       // block b is sparse when (b + 1) % sparse_step == 0 ...
    std::vector<int64_t> dense_blocks;  // ... and b is not listed here (mlp_only_layers)
};

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

    // The Hugging Face model_type the model is read as and written back as: llama,
    // mistral, qwen2, qwen3, mixtral, qwen2_moe, qwen3_moe.
    std::string family = "llama";
    RopeScaling rope_scaling;
    int64_t sliding_window = 0;  // keys a query attends to, itself included (0: all)
    bool qkv_bias = false;       // q/k/v projections carry a bias
    bool o_bias = false;         // the output projection carries a bias
    bool qk_norm = false;        // RMSNorm over each q and k head before RoPE
    MoeConfig moe;
    // Activation quantization: every linear layer's input is fake-quantized per token
    // (dynamic, asymmetric, act_bits wide) before its product (ops::fake_quant_tokens);
    // 0 = float activations. The classifier's input stays float.
    int act_bits = 0;

    int64_t head_size() const { return head_dim > 0 ? head_dim : dim / n_heads; }
    int64_t q_dim() const { return head_size() * n_heads; }    // rows of wq, columns of wo
    int64_t kv_dim() const { return head_size() * n_kv_heads; }  // rows of wk, wv
    // Valid head layout: heads of one even size, query heads a multiple of the kv heads,
    // and head_dim = 0 only when dim splits evenly.
    bool attention_consistent() const;
    // Whether block b's FFN is a Mixture of Experts.
    bool is_moe_block(int64_t b) const;
    // The plain Llama block: no bias, q/k norm, RoPE scaling, window or experts (what the
    // llama2.c format and the backward pass take).
    bool plain_llama() const;
};

// One routed expert: a SwiGLU FFN.
struct Expert {
    Matrix w1;  // gate: expert_dim × dim
    Matrix w2;  // down: dim × expert_dim
    Matrix w3;  // up:   expert_dim × dim
};

struct LayerWeights {
    std::vector<float> rms_att;  // dim
    Matrix wq;                   // q_dim × dim
    Matrix wk;                   // kv_dim × dim
    Matrix wv;                   // kv_dim × dim
    Matrix wo;                   // dim × q_dim
    std::vector<float> rms_ffn;  // dim
    // The dense FFN, or in a MoE block the shared expert (0 rows when there is none).
    Matrix w1;                   // gate: hidden × dim
    Matrix w2;                   // down: dim × hidden
    Matrix w3;                   // up:   hidden × dim

    // Optional parts (empty when the family has none).
    std::vector<float> bq, bk, bv;  // q_dim, kv_dim, kv_dim (llama2.c row order, as wq/wk)
    std::vector<float> bo;          // dim
    std::vector<float> q_norm, k_norm;  // head_size each (llama2.c order within a head)
    Matrix router;                  // n_experts × dim (MoE blocks)
    std::vector<Expert> experts;    // n_experts (MoE blocks)
    Matrix shared_gate;             // 1 × dim: sigmoid gate of the shared expert
};

struct Model {
    ModelConfig config;
    Matrix tok_emb;                    // vocab × dim
    std::vector<LayerWeights> layers;  // n_layers
    std::vector<float> rms_final;      // dim
    Matrix wcls;                       // vocab × dim; empty when shared_classifier

    const Matrix& classifier() const { return config.shared_classifier ? tok_emb : wcls; }
};

// The seven linear layers of a block, by their llama2.c names. Routed experts' linears are
// named "experts.<e>.w1|w2|w3"; linear() takes those names too.
inline const char* const kLinearNames[] = {"wq", "wk", "wv", "wo", "w1", "w2", "w3"};
Matrix& linear(LayerWeights& layer, const std::string& name);  // throws on unknown name
const Matrix& linear(const LayerWeights& layer, const std::string& name);
std::string expert_linear_name(int64_t expert, const char* linear);  // "experts.<e>.<linear>"

// Checks that every matrix and norm of `model` has the size its config implies (the FFN
// size taken from each layer's w1). Throws SURGEON_ERR_SHAPE naming the first mismatch.
void validate_shapes(const Model& model);

// The same checks for one block (b >= 0 names it in the message; b is also what decides
// whether a MoE config makes the block sparse, and a negative b is a dense block).
void validate_block(const ModelConfig& config, const LayerWeights& layer, int64_t b);

}  // namespace surgeon::model
