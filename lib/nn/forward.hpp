// fp32 forward pass of a Llama model over whole sequences: activations are T × dim
// matrices and every linear layer is one GEMM on the given backend. With
// config.act_bits > 0 the input of every linear (the router and experts included, the
// classifier not) is fake-quantized per token first (ops::fake_quant_tokens); the captured
// inputs are the quantized ones. Layer sizes come from the weight matrices
// (a structurally pruned FFN may be smaller than config.hidden_dim).
#pragma once

#include <string>
#include <vector>

#include "core/backend.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

// Inputs of a block's linear layers, T × in_features each (what a Hessian accumulates).
struct BlockCapture {
    Matrix attn_in;      // rmsnorm(x): input of wq, wk, wv
    Matrix attn_out_in;  // concatenated attention heads (T × q_dim): input of wo
    Matrix ffn_in;       // rmsnorm(h): input of w1, w3 (and of the router and experts)
    Matrix down_in;      // silu(w1 h') * w3 h': input of w2 (left empty in a MoE block)
};

// Which captured input feeds a linear: linears reading the same input share a Hessian
// (wq/wk/wv, then wo, then w1/w3, then w2, in the order a block computes them).
enum class LinearInput { attn_in, attn_out_in, ffn_in, down_in };
constexpr int kLinearInputs = 4;
LinearInput input_of(const std::string& linear);  // throws on an unknown name
const Matrix& captured(const BlockCapture& c, LinearInput which);

// Token embeddings of `tokens`, T × dim. Throws SURGEON_ERR_INVALID_ARGUMENT for an id
// outside the vocabulary.
Matrix embed(const Model& model, const std::vector<int>& tokens);

// One transformer block over the T positions 0..T-1 of `x` (T × dim), causal attention.
// Returns the block output (residuals included); `capture`, when given, receives the
// inputs of the seven linears.
Matrix block_forward(Backend& be, const ModelConfig& config, const LayerWeights& layer, const Matrix& x,
                     BlockCapture* capture = nullptr);

// The attention half of a block over positions 0..T-1, from attn_in = rmsnorm(x) (T × dim)
// to the input of wo (T × q_dim): q, k, v, RoPE and causal grouped-query attention, as
// block_forward computes them.
Matrix attention_heads(Backend& be, const ModelConfig& config, const LayerWeights& layer, const Matrix& attn_in);

// The SwiGLU of a block's FFN, silu(ffn_in · w1ᵀ) ⊙ (ffn_in · w3ᵀ): the input of w2
// before any activation quantization (which is the caller's).
Matrix swiglu(Backend& be, const LayerWeights& layer, const Matrix& ffn_in);
Matrix swiglu(Backend& be, const Matrix& w1, const Matrix& w3, const Matrix& x);

// h (T × dim) += the block's FFN of ffn_in: the dense SwiGLU FFN, or in a MoE block the
// routed experts (weighted by the router) plus the sigmoid-gated shared expert.
void ffn_add(Backend& be, const ModelConfig& config, const LayerWeights& layer, const Matrix& ffn_in, Matrix& h);

// How a MoE block routes T tokens, as the model does: softmax of ffn_in · routerᵀ over all
// experts, the top_k most probable (the lower index first among equals), their
// probabilities as weights, renormalized to sum 1 when config.moe.norm_topk_prob.
struct Routing {
    int64_t top_k = 0;
    std::vector<int32_t> expert;  // T × top_k expert ids
    std::vector<float> weight;    // T × top_k weights
};
Routing route(Backend& be, const ModelConfig& config, const LayerWeights& layer, const Matrix& ffn_in);
// The rows (tokens, ascending) routed to `expert`, and in `weights` (nullable) their weights.
std::vector<int64_t> routed_rows(const Routing& routing, int64_t expert, std::vector<float>* weights = nullptr);
// The given rows of m, in that order.
Matrix gather_rows(const Matrix& m, const std::vector<int64_t>& rows);

// Everything the backward pass (nn/backward.hpp) needs of a block: its linears' inputs
// plus q and k after RoPE, v, the residual stream between attention and FFN, and the
// gate (w1) and up (w3) outputs before SwiGLU.
struct BlockTape : BlockCapture {
    Matrix q, k, v, mid, gate, up;
};
Matrix block_forward_taped(Backend& be, const ModelConfig& config, const LayerWeights& layer, const Matrix& x,
                           BlockTape& tape);

// Final RMSNorm and classifier: T × vocab logits from the last hidden states.
Matrix logits(Backend& be, const Model& model, const Matrix& x);

// Whole model: T × vocab logits of `tokens` (positions 0..T-1).
Matrix forward(Backend& be, const Model& model, const std::vector<int>& tokens);

// Keys and values of every layer for incremental decoding: positions already processed
// are attended to without being recomputed.
class KVCache {
public:
    // Room for `capacity` positions (at most; the model's seq_len when 0).
    explicit KVCache(const Model& model, int64_t capacity = 0);
    int64_t size() const { return size_; }  // positions stored
    int64_t capacity() const { return capacity_; }
    void clear() { size_ = 0; }

private:
    friend Matrix forward_cached(Backend&, const Model&, KVCache&, const std::vector<int>&);
    int64_t size_ = 0, capacity_ = 0;
    std::vector<Matrix> keys_, values_;  // per layer, capacity × kv_dim
};

// Runs `tokens` at positions cache.size() onward, appends their keys/values to the
// cache and returns their logits (tokens.size() × vocab). Throws when the cache is full.
Matrix forward_cached(Backend& be, const Model& model, KVCache& cache, const std::vector<int>& tokens);

}  // namespace surgeon::model
