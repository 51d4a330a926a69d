#include "nn/backward.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "nn/forward.hpp"
#include "nn/ops.hpp"

namespace surgeon::model {
namespace {

// C (m × n) = alpha · op(A) · op(B) + beta · C with explicit leading dimensions.
void gemm(Backend& be, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    be.gemm(ta ? Trans::yes : Trans::no, tb ? Trans::yes : Trans::no, m, n, k, alpha, a, lda, b, ldb,
            beta, c, ldc);
}

// Causal attention backward, head by head: with S = scale·q_h·k_gᵀ, P = softmax(S),
// O_h = P·v_g: dP = dO_h·v_gᵀ, dv_g += Pᵀ·dO_h, dS = P ⊙ (dP − rowsum(dP ⊙ P)),
// dq_h = scale·dS·k_g, dk_g += scale·dSᵀ·q_h (g the kv head that head h reads).
void attention_backward(Backend& be, const ModelConfig& c, const BlockTape& tape, const Matrix& d_out, Matrix& dq,
                        Matrix& dk, Matrix& dv) {
    const int64_t T = tape.q.rows, hs = c.head_size(), q_dim = c.q_dim(), kv_dim = c.kv_dim();
    const int64_t group = c.n_heads / c.n_kv_heads;
    const auto scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hs)));
    Matrix p(T, T), dp(T, T);
    for (int64_t h = 0; h < c.n_heads; ++h) {
        const int64_t qo = h * hs, ko = (h / group) * hs;
        gemm(be, false, true, T, T, hs, scale, tape.q.data.data() + qo, q_dim, tape.k.data.data() + ko,
             kv_dim, 0.0f, p.data.data(), T);
        ops::causal_softmax(p, 0, c.sliding_window);
        gemm(be, false, true, T, T, hs, 1.0f, d_out.data.data() + qo, q_dim, tape.v.data.data() + ko,
             kv_dim, 0.0f, dp.data.data(), T);
        gemm(be, true, false, T, hs, T, 1.0f, p.data.data(), T, d_out.data.data() + qo, q_dim, 1.0f,
             dv.data.data() + ko, kv_dim);
        for (int64_t t = 0; t < T; ++t) {
            float* dpr = dp.row(t);
            const float* pr = p.row(t);
            double dot = 0.0;
            for (int64_t j = 0; j <= t; ++j) dot += static_cast<double>(dpr[j]) * pr[j];
            for (int64_t j = 0; j < T; ++j) dpr[j] = j <= t ? pr[j] * (dpr[j] - static_cast<float>(dot)) : 0.0f;
        }
        gemm(be, false, false, T, hs, T, scale, dp.data.data(), T, tape.k.data.data() + ko, kv_dim, 0.0f,
             dq.data.data() + qo, q_dim);
        gemm(be, true, false, T, hs, T, scale, dp.data.data(), T, tape.q.data.data() + qo, q_dim, 1.0f,
             dk.data.data() + ko, kv_dim);
    }
}

}  // namespace

Matrix block_backward(Backend& be, const ModelConfig& c, const LayerWeights& L, const Matrix& x, const BlockTape& tape,
                      const Matrix& d_out, LinearGradients& g) {
    if (c.qk_norm) fail(SURGEON_ERR_UNSUPPORTED, "the backward pass does not support per-head q/k norms (" + c.family + ")");
    require(L.experts.empty(), SURGEON_ERR_UNSUPPORTED, "the backward pass does not support Mixture-of-Experts blocks");
    require_shape(d_out.rows == x.rows && d_out.cols == c.dim && tape.q.rows == x.rows,
                  "block gradient does not match the block input or its tape");
    const int64_t T = x.rows, hidden = L.w1.rows;
    g.w2 = d_out;
    Matrix d_act(T, hidden);
    ops::linear_input_grad(be, d_out, L.w2, d_act, 0.0f);
    g.w1 = Matrix(T, hidden);
    g.w3 = Matrix(T, hidden);
    for (size_t i = 0; i < d_act.data.size(); ++i) {  // act = silu(gate) ⊙ up
        const float a = tape.gate.data[i], sig = 1.0f / (1.0f + std::exp(-a));
        g.w3.data[i] = d_act.data[i] * a * sig;
        g.w1.data[i] = d_act.data[i] * tape.up.data[i] * sig * (1.0f + a * (1.0f - sig));
    }
    Matrix d_ffn_in(T, c.dim);
    ops::linear_input_grad(be, g.w1, L.w1, d_ffn_in, 0.0f);
    ops::linear_input_grad(be, g.w3, L.w3, d_ffn_in, 1.0f);
    Matrix d_mid = d_out;
    ops::rmsnorm_backward(tape.mid, L.rms_ffn, c.norm_eps, d_ffn_in, d_mid);

    g.wo = d_mid;
    Matrix d_heads(T, c.q_dim());
    ops::linear_input_grad(be, d_mid, L.wo, d_heads, 0.0f);
    g.wq = Matrix(T, c.q_dim());
    g.wk = Matrix(T, c.kv_dim());
    g.wv = Matrix(T, c.kv_dim());
    attention_backward(be, c, tape, d_heads, g.wq, g.wk, g.wv);
    const ops::RopeTable rope(0, T, c);
    rope.apply(g.wq, /*inverse=*/true);
    rope.apply(g.wk, /*inverse=*/true);
    Matrix d_attn_in(T, c.dim);
    ops::linear_input_grad(be, g.wq, L.wq, d_attn_in, 0.0f);
    ops::linear_input_grad(be, g.wk, L.wk, d_attn_in, 1.0f);
    ops::linear_input_grad(be, g.wv, L.wv, d_attn_in, 1.0f);
    Matrix d_x = std::move(d_mid);
    ops::rmsnorm_backward(x, L.rms_att, c.norm_eps, d_attn_in, d_x);
    return d_x;
}

const Matrix& LinearGradients::of(const std::string& linear) const {
    if (linear == "wq") return wq;
    if (linear == "wk") return wk;
    if (linear == "wv") return wv;
    if (linear == "wo") return wo;
    if (linear == "w1") return w1;
    if (linear == "w2") return w2;
    if (linear == "w3") return w3;
    fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown linear '" + linear + "' (wq, wk, wv, wo, w1, w2, w3)");
}

SequenceGradients linear_output_gradients(Backend& be, const Model& model, const std::vector<int>& tokens) {
    SequenceGradients out;
    if (tokens.size() < 2) return out;
    const ModelConfig& c = model.config;
    // Biases, RoPE scaling and the sliding window only change what the tape holds; the
    // per-head q/k norm and routed experts have no backward here.
    if (c.qk_norm) fail(SURGEON_ERR_UNSUPPORTED, "the backward pass does not support per-head q/k norms (" + c.family + ")");
    if (c.moe.n_experts > 0)
        fail(SURGEON_ERR_UNSUPPORTED, "the backward pass does not support Mixture-of-Experts blocks (" + c.family + ")");
    const std::vector<int> inputs(tokens.begin(), tokens.end() - 1);
    const auto n_blocks = model.layers.size();
    std::vector<Matrix> block_in(n_blocks);
    std::vector<BlockTape> tapes(n_blocks);
    Matrix x = embed(model, inputs);
    for (size_t b = 0; b < n_blocks; ++b) {
        block_in[b] = x;
        x = block_forward_taped(be, c, model.layers[b], x, tapes[b]);
    }

    // Logits and the gradient of Σ NLL: softmax − one-hot of the next token.
    Matrix dz = logits(be, model, x);
    for (int64_t t = 0; t < dz.rows; ++t) {
        float* z = dz.row(t);
        float peak = z[0];
        for (int64_t v = 1; v < dz.cols; ++v) peak = std::max(peak, z[v]);
        double sum = 0.0;
        for (int64_t v = 0; v < dz.cols; ++v) sum += std::exp(static_cast<double>(z[v] - peak));
        const int target = tokens[static_cast<size_t>(t + 1)];
        out.nll += std::log(sum) + peak - z[target];
        for (int64_t v = 0; v < dz.cols; ++v)
            z[v] = static_cast<float>(std::exp(static_cast<double>(z[v] - peak)) / sum);
        z[target] -= 1.0f;
    }
    Matrix d_normed(dz.rows, c.dim);
    ops::linear_input_grad(be, dz, model.classifier(), d_normed, 0.0f);
    Matrix d_x(dz.rows, c.dim);
    ops::rmsnorm_backward(x, model.rms_final, c.norm_eps, d_normed, d_x);

    out.blocks.resize(n_blocks);
    for (size_t b = n_blocks; b-- > 0;)
        d_x = block_backward(be, c, model.layers[b], block_in[b], tapes[b], d_x, out.blocks[b]);
    return out;
}

}  // namespace surgeon::model
