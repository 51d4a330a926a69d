#include "nn/model.hpp"

#include <algorithm>
#include <cstdlib>

#include "core/error.hpp"

namespace surgeon::model {

std::string expert_linear_name(int64_t expert, const char* linear) {
    return "experts." + std::to_string(expert) + "." + linear;
}

const Matrix& linear(const LayerWeights& layer, const std::string& name) {
    if (name == "wq") return layer.wq;
    if (name == "wk") return layer.wk;
    if (name == "wv") return layer.wv;
    if (name == "wo") return layer.wo;
    if (name == "w1") return layer.w1;
    if (name == "w2") return layer.w2;
    if (name == "w3") return layer.w3;
    const std::string prefix = "experts.";
    if (name.compare(0, prefix.size(), prefix) == 0) {
        const char* digits = name.c_str() + prefix.size();
        char* end = nullptr;
        const long long e = std::strtoll(digits, &end, 10);
        if (end != digits && *end == '.' && e >= 0 && e < static_cast<long long>(layer.experts.size())) {
            const Expert& x = layer.experts[static_cast<size_t>(e)];
            const std::string which = end + 1;
            if (which == "w1") return x.w1;
            if (which == "w2") return x.w2;
            if (which == "w3") return x.w3;
        }
    }
    fail(SURGEON_ERR_INVALID_ARGUMENT,
         "unknown linear layer '" + name + "' (expected wq, wk, wv, wo, w1, w2, w3 or experts.<e>.w1|w2|w3)");
}

bool ModelConfig::attention_consistent() const {
    if (dim <= 0 || n_heads <= 0 || n_kv_heads <= 0 || head_dim < 0 || n_heads % n_kv_heads != 0)
        return false;
    if (head_dim == 0 && dim % n_heads != 0) return false;
    return head_size() > 0 && head_size() % 2 == 0;
}

bool ModelConfig::is_moe_block(int64_t b) const {
    if (moe.n_experts <= 0) return false;
    if (moe.sparse_step > 1 && (b + 1) % moe.sparse_step != 0) return false;
    return std::find(moe.dense_blocks.begin(), moe.dense_blocks.end(), b) == moe.dense_blocks.end();
}

bool ModelConfig::plain_llama() const {
    return rope_scaling.kind == RopeScalingKind::none && sliding_window == 0 && !qkv_bias && !o_bias && !qk_norm &&
           moe.n_experts == 0;
}

void validate_block(const ModelConfig& c, const LayerWeights& L, int64_t b) {
    auto check = [](bool ok, const std::string& what) {
        require_shape(ok, "model tensor " + what + " has the wrong size");
    };
    auto length = [](const std::vector<float>& v) { return static_cast<int64_t>(v.size()); };
    const std::string at = b >= 0 ? " of layer " + std::to_string(b) : "";
    const int64_t hidden = L.w1.rows;
    const bool moe = c.is_moe_block(b);
    check(length(L.rms_att) == c.dim, "rms_att" + at);
    check(length(L.rms_ffn) == c.dim, "rms_ffn" + at);
    check(L.wq.rows == c.q_dim() && L.wq.cols == c.dim, "wq" + at);
    check(L.wk.rows == c.kv_dim() && L.wk.cols == c.dim, "wk" + at);
    check(L.wv.rows == c.kv_dim() && L.wv.cols == c.dim, "wv" + at);
    check(L.wo.rows == c.dim && L.wo.cols == c.q_dim(), "wo" + at);
    check((hidden > 0 || (moe && hidden == 0)) && L.w1.cols == c.dim, "w1" + at);
    check(L.w3.rows == hidden && L.w3.cols == c.dim, "w3" + at);
    check(L.w2.rows == c.dim && L.w2.cols == hidden, "w2" + at);
    const int64_t qb = c.qkv_bias ? c.q_dim() : 0, kvb = c.qkv_bias ? c.kv_dim() : 0;
    check(length(L.bq) == qb && length(L.bk) == kvb && length(L.bv) == kvb, "q/k/v bias" + at);
    check(length(L.bo) == (c.o_bias ? c.dim : 0), "o bias" + at);
    const int64_t nh = c.qk_norm ? c.head_size() : 0;
    check(length(L.q_norm) == nh && length(L.k_norm) == nh, "q/k norm" + at);
    if (!moe) {
        check(L.router.data.empty() && L.experts.empty() && L.shared_gate.data.empty(), "router/experts" + at);
        return;
    }
    const MoeConfig& m = c.moe;
    check(L.router.rows == m.n_experts && L.router.cols == c.dim, "router" + at);
    check(static_cast<int64_t>(L.experts.size()) == m.n_experts, "experts" + at);
    for (const Expert& e : L.experts) {
        const int64_t f = e.w1.rows;
        check(f > 0 && e.w1.cols == c.dim && e.w3.rows == f && e.w3.cols == c.dim && e.w2.rows == c.dim &&
                  e.w2.cols == f,
              "expert" + at);
    }
    check(hidden == 0 ? L.shared_gate.data.empty() : (L.shared_gate.rows == 1 && L.shared_gate.cols == c.dim),
          "shared_expert_gate" + at);
}

void validate_shapes(const Model& m) {
    const ModelConfig& c = m.config;
    require_shape(c.attention_consistent(),
                  "inconsistent attention config (dim " + std::to_string(c.dim) + ", heads " +
                      std::to_string(c.n_heads) + ", kv heads " + std::to_string(c.n_kv_heads) +
                      ", head_dim " + std::to_string(c.head_dim) + ")");
    auto check = [](bool ok, const std::string& what) {
        require_shape(ok, "model tensor " + what + " has the wrong size");
    };
    check(m.tok_emb.rows == c.vocab_size && m.tok_emb.cols == c.dim, "tok_emb");
    check(static_cast<int64_t>(m.rms_final.size()) == c.dim, "rms_final");
    if (!c.shared_classifier) check(m.wcls.rows == c.vocab_size && m.wcls.cols == c.dim, "wcls");
    check(static_cast<int64_t>(m.layers.size()) == c.n_layers, "layers");
    for (size_t l = 0; l < m.layers.size(); ++l) validate_block(c, m.layers[l], static_cast<int64_t>(l));
}

Matrix& linear(LayerWeights& layer, const std::string& name) {
    return const_cast<Matrix&>(linear(static_cast<const LayerWeights&>(layer), name));
}

}  // namespace surgeon::model
