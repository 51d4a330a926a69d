#include "nn/model.hpp"

#include "core/error.hpp"

namespace surgeon::model {

const Matrix& linear(const LayerWeights& layer, const std::string& name) {
    if (name == "wq") return layer.wq;
    if (name == "wk") return layer.wk;
    if (name == "wv") return layer.wv;
    if (name == "wo") return layer.wo;
    if (name == "w1") return layer.w1;
    if (name == "w2") return layer.w2;
    if (name == "w3") return layer.w3;
    fail(SURGEON_ERR_INVALID_ARGUMENT,
         "unknown linear layer '" + name + "' (expected wq, wk, wv, wo, w1, w2 or w3)");
}

bool ModelConfig::attention_consistent() const {
    if (dim <= 0 || n_heads <= 0 || n_kv_heads <= 0 || head_dim < 0 || n_heads % n_kv_heads != 0)
        return false;
    if (head_dim == 0 && dim % n_heads != 0) return false;
    return head_size() > 0 && head_size() % 2 == 0;
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
    for (size_t l = 0; l < m.layers.size(); ++l) {
        const LayerWeights& L = m.layers[l];
        const std::string at = " of layer " + std::to_string(l);
        const int64_t hidden = L.w1.rows;
        check(static_cast<int64_t>(L.rms_att.size()) == c.dim, "rms_att" + at);
        check(static_cast<int64_t>(L.rms_ffn.size()) == c.dim, "rms_ffn" + at);
        check(L.wq.rows == c.q_dim() && L.wq.cols == c.dim, "wq" + at);
        check(L.wk.rows == c.kv_dim() && L.wk.cols == c.dim, "wk" + at);
        check(L.wv.rows == c.kv_dim() && L.wv.cols == c.dim, "wv" + at);
        check(L.wo.rows == c.dim && L.wo.cols == c.q_dim(), "wo" + at);
        check(hidden > 0 && L.w1.cols == c.dim, "w1" + at);
        check(L.w3.rows == hidden && L.w3.cols == c.dim, "w3" + at);
        check(L.w2.rows == c.dim && L.w2.cols == hidden, "w2" + at);
    }
}

Matrix& linear(LayerWeights& layer, const std::string& name) {
    return const_cast<Matrix&>(linear(static_cast<const LayerWeights&>(layer), name));
}

}  // namespace surgeon::model
