#include "nn/forward.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "nn/ops.hpp"

namespace surgeon::model {
namespace {

using ops::apply_linear;
using ops::rmsnorm;

// Causal grouped-query attention of T queries (positions pos0..pos0+T-1) over the keys
// and values of positions 0..pos0+T-1 (rows of k/v, leading dimension kv_dim). q and the
// result are T × q_dim (n_heads heads of head_size, which need not add up to dim). The
// work comes in items of one kv head and a chunk of kAttentionChunk queries: the query
// heads sharing the kv head are stacked into one product, and the chunk only meets the
// keys up to its last position. Items go to the backend's workers (largest first), each
// running the single-threaded backend on its own buffers.
constexpr int64_t kAttentionChunk = 256;

Matrix grouped_attention(Backend& be, const ModelConfig& c, const Matrix& q, const float* k, const float* v,
                         int64_t pos0) {
    const int64_t T = q.rows, hs = c.head_size(), kv_dim = c.kv_dim(), q_dim = c.q_dim();
    const int64_t group = c.n_heads / c.n_kv_heads;
    const auto scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hs)));
    Matrix out(T, q_dim);
    if (T == 0) return out;
    const int64_t chunks = (T + kAttentionChunk - 1) / kAttentionChunk, items = chunks * c.n_kv_heads;
    const int workers = static_cast<int>(std::min<int64_t>(be.threads(), items));
    Backend& item_be = workers == 1 ? be : be.single_threaded();
    std::atomic<int64_t> next{0};
    parallel_for(workers, workers, [&](int64_t, int64_t, int) {
        const int64_t rows = group * std::min(T, kAttentionChunk);
        Matrix qs(rows, hs), scores(rows, pos0 + std::min(T, kAttentionChunk * chunks)), os(rows, hs);
        for (int64_t i = next++; i < items; i = next++) {
            const int64_t chunk = chunks - 1 - i / c.n_kv_heads, g = i % c.n_kv_heads;
            const int64_t t0 = chunk * kAttentionChunk, n = std::min(T, t0 + kAttentionChunk) - t0;
            const int64_t L = pos0 + t0 + n;  // keys the chunk sees
            for (int64_t j = 0; j < group; ++j)
                for (int64_t r = 0; r < n; ++r)
                    std::memcpy(qs.row(j * n + r), q.row(t0 + r) + (g * group + j) * hs, sizeof(float) * hs);
            item_be.gemm(Trans::no, Trans::yes, group * n, L, hs, scale, qs.data.data(), hs, k + g * hs, kv_dim,
                         0.0f, scores.data.data(), L);
            for (int64_t j = 0; j < group; ++j)
                ops::causal_softmax(scores.data.data() + j * n * L, n, L, L, pos0 + t0, c.sliding_window);
            item_be.gemm(group * n, hs, L, 1.0f, scores.data.data(), L, v + g * hs, kv_dim, 0.0f, os.data.data(), hs);
            for (int64_t j = 0; j < group; ++j)
                for (int64_t r = 0; r < n; ++r)
                    std::memcpy(out.row(t0 + r) + (g * group + j) * hs, os.row(j * n + r), sizeof(float) * hs);
        }
    });
    return out;
}

void check_layer(const ModelConfig& c, const LayerWeights& L, const Matrix& x) {
    require_shape(x.cols == c.dim, "block input has " + std::to_string(x.cols) +
                                       " columns, the model dim is " + std::to_string(c.dim));
    require_shape(c.attention_consistent(), "inconsistent attention config");
    const int64_t hidden = L.w1.rows;
    auto length = [](const std::vector<float>& v) { return static_cast<int64_t>(v.size()); };
    require_shape(static_cast<int64_t>(L.rms_att.size()) == c.dim &&
                      static_cast<int64_t>(L.rms_ffn.size()) == c.dim &&
                      L.wq.rows == c.q_dim() && L.wq.cols == c.dim && L.wk.rows == c.kv_dim() &&
                      L.wk.cols == c.dim && L.wv.rows == c.kv_dim() && L.wv.cols == c.dim &&
                      L.wo.rows == c.dim && L.wo.cols == c.q_dim() && L.w1.cols == c.dim &&
                      L.w3.rows == hidden && L.w3.cols == c.dim && L.w2.rows == c.dim &&
                      L.w2.cols == hidden && (hidden > 0 || !L.experts.empty()),
                  "block weights do not match the model config");
    const int64_t qb = c.qkv_bias ? c.q_dim() : 0, kvb = c.qkv_bias ? c.kv_dim() : 0;
    const int64_t nh = c.qk_norm ? c.head_size() : 0;
    require_shape(length(L.bq) == qb && length(L.bk) == kvb && length(L.bv) == kvb &&
                      length(L.bo) == (c.o_bias ? c.dim : 0) && length(L.q_norm) == nh && length(L.k_norm) == nh,
                  "block biases or q/k norms do not match the model config");
    if (L.experts.empty()) return;
    require_shape(L.router.rows == static_cast<int64_t>(L.experts.size()) && L.router.cols == c.dim &&
                      c.moe.top_k >= 1 && c.moe.top_k <= L.router.rows,
                  "MoE router does not match the model config");
    for (const Expert& e : L.experts)
        require_shape(e.w1.cols == c.dim && e.w3.rows == e.w1.rows && e.w3.cols == c.dim && e.w2.rows == c.dim &&
                          e.w2.cols == e.w1.rows,
                      "MoE expert weights do not match the model config");
    require_shape(hidden == 0 || (L.shared_gate.rows == 1 && L.shared_gate.cols == c.dim),
                  "shared expert gate does not match the model config");
}

// q, k and v of attn_in at positions pos0.., q and k rotated by RoPE.
void project_qkv(Backend& be, const ModelConfig& c, const LayerWeights& L, const Matrix& attn_in, int64_t pos0,
                 Matrix& q, Matrix& k, Matrix& v) {
    q = apply_linear(be, attn_in, L.wq);
    k = apply_linear(be, attn_in, L.wk);
    v = apply_linear(be, attn_in, L.wv);
    ops::add_bias(q, L.bq);
    ops::add_bias(k, L.bk);
    ops::add_bias(v, L.bv);
    if (c.qk_norm) {
        ops::head_rmsnorm(q, L.q_norm, c.norm_eps);
        ops::head_rmsnorm(k, L.k_norm, c.norm_eps);
    }
    const ops::RopeTable rope(pos0, attn_in.rows, c);
    rope.apply(q);
    rope.apply(k);
}

// gate ← silu(gate) ⊙ up.
void silu_times(Matrix& gate, const Matrix& up) {
    for (size_t i = 0; i < gate.data.size(); ++i) {
        const float g = gate.data[i];
        gate.data[i] = g / (1.0f + std::exp(-g)) * up.data[i];
    }
}

// h += the block's FFN of ffn_in when it is a Mixture of Experts (routed experts and the
// gated shared expert).
void moe_add(Backend& be, const ModelConfig& c, const LayerWeights& L, const Matrix& ffn_in, Matrix& h) {
    const Routing r = route(be, c, L, ffn_in);
    for (size_t e = 0; e < L.experts.size(); ++e) {
        std::vector<float> weights;
        const std::vector<int64_t> rows = routed_rows(r, static_cast<int64_t>(e), &weights);
        if (rows.empty()) continue;
        const Expert& x = L.experts[e];
        Matrix down_in = swiglu(be, x.w1, x.w3, gather_rows(ffn_in, rows));
        ops::fake_quant_tokens(down_in, c.act_bits);
        const Matrix out = apply_linear(be, down_in, x.w2);
        for (size_t i = 0; i < rows.size(); ++i) {
            float* dst = h.row(rows[i]);
            const float* src = out.row(static_cast<int64_t>(i));
            for (int64_t j = 0; j < c.dim; ++j) dst[j] += weights[i] * src[j];
        }
    }
    if (L.w1.rows == 0) return;
    Matrix shared_in = swiglu(be, L.w1, L.w3, ffn_in);
    ops::fake_quant_tokens(shared_in, c.act_bits);
    const Matrix shared = apply_linear(be, shared_in, L.w2);
    const Matrix gate = apply_linear(be, ffn_in, L.shared_gate);
    for (int64_t t = 0; t < h.rows; ++t) {
        const float g = 1.0f / (1.0f + std::exp(-gate.data[static_cast<size_t>(t)]));
        float* dst = h.row(t);
        const float* src = shared.row(t);
        for (int64_t j = 0; j < c.dim; ++j) dst[j] += g * src[j];
    }
}

// One block at positions pos0.. of x. Keys/values go to `k_cache`/`v_cache` rows pos0..
// when given (attention then covers the cached positions too), else stay local.
Matrix run_block(Backend& be, const ModelConfig& c, const LayerWeights& L, const Matrix& x, int64_t pos0,
                 Matrix* k_cache, Matrix* v_cache, BlockCapture* capture, BlockTape* tape = nullptr) {
    check_layer(c, L, x);
    const int64_t T = x.rows;
    Matrix attn_in = rmsnorm(x, L.rms_att, c.norm_eps);
    ops::fake_quant_tokens(attn_in, c.act_bits);
    Matrix q, k, v;
    project_qkv(be, c, L, attn_in, pos0, q, k, v);
    const float* keys = k.data.data();
    const float* values = v.data.data();
    if (k_cache) {
        std::memcpy(k_cache->row(pos0), k.data.data(), sizeof(float) * k.data.size());
        std::memcpy(v_cache->row(pos0), v.data.data(), sizeof(float) * v.data.size());
        keys = k_cache->data.data();
        values = v_cache->data.data();
    }
    Matrix attn_out_in = grouped_attention(be, c, q, keys, values, k_cache ? pos0 : 0);
    ops::fake_quant_tokens(attn_out_in, c.act_bits);

    Matrix h = x;  // residual stream
    apply_linear(be, attn_out_in.data.data(), T, attn_out_in.cols, L.wo, h.data.data(), c.dim, 1.0f);
    ops::add_bias(h, L.bo);
    Matrix ffn_in = rmsnorm(h, L.rms_ffn, c.norm_eps);
    ops::fake_quant_tokens(ffn_in, c.act_bits);
    if (!L.experts.empty()) {
        require(tape == nullptr, SURGEON_ERR_UNSUPPORTED, "the backward pass does not support Mixture-of-Experts blocks");
        moe_add(be, c, L, ffn_in, h);
        if (capture) {
            capture->attn_in = std::move(attn_in);
            capture->attn_out_in = std::move(attn_out_in);
            capture->ffn_in = std::move(ffn_in);
        }
        return h;
    }
    Matrix gate = apply_linear(be, ffn_in, L.w1);
    Matrix up = apply_linear(be, ffn_in, L.w3);
    if (tape) {
        tape->q = std::move(q);
        tape->k = std::move(k);
        tape->v = std::move(v);
        tape->mid = h;
        tape->gate = gate;
    }
    silu_times(gate, up);  // the input of w2
    ops::fake_quant_tokens(gate, c.act_bits);
    apply_linear(be, gate.data.data(), T, gate.cols, L.w2, h.data.data(), c.dim, 1.0f);
    if (capture) {
        capture->attn_in = std::move(attn_in);
        capture->attn_out_in = std::move(attn_out_in);
        capture->ffn_in = std::move(ffn_in);
        capture->down_in = std::move(gate);
    }
    if (tape) tape->up = std::move(up);
    return h;
}

}  // namespace

Matrix embed(const Model& model, const std::vector<int>& tokens) {
    const int64_t dim = model.config.dim;
    require_shape(model.tok_emb.rows == model.config.vocab_size && model.tok_emb.cols == dim,
                  "token embedding does not match the model config");
    Matrix x(static_cast<int64_t>(tokens.size()), dim);
    for (size_t t = 0; t < tokens.size(); ++t) {
        require_arg(tokens[t] >= 0 && tokens[t] < model.config.vocab_size,
                    "token " + std::to_string(tokens[t]) + " at position " + std::to_string(t) +
                        " is outside the vocabulary of " + std::to_string(model.config.vocab_size));
        std::memcpy(x.row(static_cast<int64_t>(t)), model.tok_emb.row(tokens[t]),
                    sizeof(float) * static_cast<size_t>(dim));
    }
    return x;
}

Matrix block_forward(Backend& be, const ModelConfig& config, const LayerWeights& layer, const Matrix& x,
                     BlockCapture* capture) {
    return run_block(be, config, layer, x, 0, nullptr, nullptr, capture);
}

Matrix attention_heads(Backend& be, const ModelConfig& config, const LayerWeights& layer, const Matrix& attn_in) {
    check_layer(config, layer, attn_in);
    Matrix q, k, v;
    project_qkv(be, config, layer, attn_in, 0, q, k, v);
    Matrix heads = grouped_attention(be, config, q, k.data.data(), v.data.data(), 0);
    ops::fake_quant_tokens(heads, config.act_bits);
    return heads;
}

Matrix swiglu(Backend& be, const LayerWeights& layer, const Matrix& ffn_in) {
    return swiglu(be, layer.w1, layer.w3, ffn_in);
}

Matrix swiglu(Backend& be, const Matrix& w1, const Matrix& w3, const Matrix& x) {
    Matrix gate = apply_linear(be, x, w1);
    silu_times(gate, apply_linear(be, x, w3));
    return gate;
}

void ffn_add(Backend& be, const ModelConfig& config, const LayerWeights& layer, const Matrix& ffn_in, Matrix& h) {
    if (!layer.experts.empty()) {
        moe_add(be, config, layer, ffn_in, h);
        return;
    }
    const Matrix d = swiglu(be, layer, ffn_in);
    apply_linear(be, d.data.data(), d.rows, d.cols, layer.w2, h.data.data(), h.cols, 1.0f);
}

Routing route(Backend& be, const ModelConfig& config, const LayerWeights& layer, const Matrix& ffn_in) {
    const int64_t E = layer.router.rows, k = config.moe.top_k, T = ffn_in.rows;
    require_shape(E > 0 && layer.router.cols == ffn_in.cols && k >= 1 && k <= E,
                  "MoE router of " + std::to_string(E) + " experts cannot route top-" + std::to_string(k));
    const Matrix logits = apply_linear(be, ffn_in, layer.router);
    Routing r;
    r.top_k = k;
    r.expert.resize(static_cast<size_t>(T * k));
    r.weight.resize(r.expert.size());
    std::vector<double> p(static_cast<size_t>(E));
    std::vector<int32_t> order(static_cast<size_t>(E));
    for (int64_t t = 0; t < T; ++t) {
        const float* z = logits.row(t);
        const float peak = *std::max_element(z, z + E);
        double sum = 0.0;
        for (int64_t e = 0; e < E; ++e) sum += p[static_cast<size_t>(e)] = std::exp(static_cast<double>(z[e] - peak));
        for (int64_t e = 0; e < E; ++e) {
            p[static_cast<size_t>(e)] /= sum;
            order[static_cast<size_t>(e)] = static_cast<int32_t>(e);
        }
        // The k most probable experts, the lower index first among equals.
        std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
            return p[static_cast<size_t>(a)] > p[static_cast<size_t>(b)] ||
                   (p[static_cast<size_t>(a)] == p[static_cast<size_t>(b)] && a < b);
        });
        double kept = 0.0;
        for (int64_t j = 0; j < k; ++j) kept += p[static_cast<size_t>(order[static_cast<size_t>(j)])];
        for (int64_t j = 0; j < k; ++j) {
            const int32_t e = order[static_cast<size_t>(j)];
            const double w = p[static_cast<size_t>(e)] / (config.moe.norm_topk_prob ? kept : 1.0);
            r.expert[static_cast<size_t>(t * k + j)] = e;
            r.weight[static_cast<size_t>(t * k + j)] = static_cast<float>(w);
        }
    }
    return r;
}

std::vector<int64_t> routed_rows(const Routing& r, int64_t expert, std::vector<float>* weights) {
    std::vector<int64_t> rows;
    if (weights) weights->clear();
    for (size_t i = 0; i < r.expert.size(); ++i)
        if (r.expert[i] == expert) {
            rows.push_back(static_cast<int64_t>(i) / r.top_k);
            if (weights) weights->push_back(r.weight[i]);
        }
    return rows;
}

Matrix gather_rows(const Matrix& m, const std::vector<int64_t>& rows) {
    Matrix out(static_cast<int64_t>(rows.size()), m.cols);
    for (size_t i = 0; i < rows.size(); ++i)
        std::memcpy(out.row(static_cast<int64_t>(i)), m.row(rows[i]), sizeof(float) * static_cast<size_t>(m.cols));
    return out;
}

Matrix block_forward_taped(Backend& be, const ModelConfig& config, const LayerWeights& layer, const Matrix& x,
                          BlockTape& tape) {
    return run_block(be, config, layer, x, 0, nullptr, nullptr, &tape, &tape);
}

Matrix logits(Backend& be, const Model& model, const Matrix& x) {
    const Matrix& cls = model.classifier();
    require_shape(x.cols == model.config.dim && cls.cols == model.config.dim &&
                      static_cast<int64_t>(model.rms_final.size()) == model.config.dim,
                  "final norm or classifier does not match the model dim");
    return apply_linear(be, rmsnorm(x, model.rms_final, model.config.norm_eps), cls);
}

Matrix forward(Backend& be, const Model& model, const std::vector<int>& tokens) {
    Matrix x = embed(model, tokens);
    for (const LayerWeights& layer : model.layers) x = block_forward(be, model.config, layer, x);
    return logits(be, model, x);
}

KVCache::KVCache(const Model& model, int64_t capacity) {
    capacity_ = capacity > 0 ? std::min(capacity, model.config.seq_len) : model.config.seq_len;
    require_arg(capacity_ > 0, "KV cache needs a positive capacity");
    for (size_t l = 0; l < model.layers.size(); ++l) {
        keys_.emplace_back(capacity_, model.config.kv_dim());
        values_.emplace_back(capacity_, model.config.kv_dim());
    }
}

Matrix forward_cached(Backend& be, const Model& model, KVCache& cache, const std::vector<int>& tokens) {
    const auto T = static_cast<int64_t>(tokens.size());
    require_arg(cache.size_ + T <= cache.capacity_,
                "context full: " + std::to_string(cache.size_) + " + " + std::to_string(T) +
                    " positions exceed " + std::to_string(cache.capacity_));
    require_shape(cache.keys_.size() == model.layers.size(), "KV cache built for another model");
    Matrix x = embed(model, tokens);
    for (size_t l = 0; l < model.layers.size(); ++l)
        x = run_block(be, model.config, model.layers[l], x, cache.size_, &cache.keys_[l],
                      &cache.values_[l], nullptr);
    cache.size_ += T;
    return logits(be, model, x);
}

LinearInput input_of(const std::string& linear) {
    if (linear == "wq" || linear == "wk" || linear == "wv") return LinearInput::attn_in;
    if (linear == "wo") return LinearInput::attn_out_in;
    if (linear == "w1" || linear == "w3") return LinearInput::ffn_in;
    if (linear == "w2") return LinearInput::down_in;
    fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown linear '" + linear + "' (wq, wk, wv, wo, w1, w2, w3)");
}

const Matrix& captured(const BlockCapture& c, LinearInput which) {
    switch (which) {
        case LinearInput::attn_in: return c.attn_in;
        case LinearInput::attn_out_in: return c.attn_out_in;
        case LinearInput::ffn_in: return c.ffn_in;
        case LinearInput::down_in: return c.down_in;
    }
    return c.attn_in;
}

}  // namespace surgeon::model
