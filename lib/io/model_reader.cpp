#include "io/model_reader.hpp"

#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <tuple>

#include "core/checks.hpp"
#include "core/error.hpp"
#include "io/checkpoint.hpp"
#include "io/gptq_export.hpp"
#include "io/hf_model.hpp"
#include "io/mapped_file.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "checkpoints are little-endian and read without byte swapping");

namespace surgeon::model {
namespace {

namespace fs = std::filesystem;

std::string join(const std::vector<std::string>& parts, const char* separator) {
    std::string out;
    for (const std::string& p : parts) out += (out.empty() ? "" : separator) + p;
    return out;
}

// ---------------------------------------------------------------------------------------
// Hugging Face directories

nlohmann::json read_json_file(const std::string& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) fail(SURGEON_ERR_IO, "'" + path + "' is a directory, not a JSON file");
    std::ifstream f(path);
    if (!f) fail(SURGEON_ERR_IO, "cannot open '" + path + "'");
    try {
        return nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {
        fail(SURGEON_ERR_IO, path + ": invalid JSON: " + e.what());
    }
}

int64_t config_int(const nlohmann::json& c, const char* key, const std::string& path,
                   std::optional<int64_t> fallback = std::nullopt) {
    if (!c.contains(key) || c[key].is_null()) {
        if (fallback) return *fallback;
        fail(SURGEON_ERR_IO, path + ": missing \"" + key + "\"");
    }
    const auto& v = c[key];
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > (int64_t{1} << 40))
        fail(SURGEON_ERR_IO, path + ": \"" + key + "\" must be a positive integer, got " + v.dump());
    return v.get<int64_t>();
}

// Optional string/bool keys: a value of another type is a malformed config (nlohmann's
// value() would throw its own exception type instead).
std::string config_string(const nlohmann::json& c, const char* key, const std::string& fallback,
                          const std::string& path) {
    if (!c.contains(key) || c[key].is_null()) return fallback;
    if (!c[key].is_string()) fail(SURGEON_ERR_IO, path + ": \"" + key + "\" must be a string, got " + c[key].dump());
    return c[key].get<std::string>();
}

bool config_bool(const nlohmann::json& c, const char* key, bool fallback, const std::string& path) {
    if (!c.contains(key) || c[key].is_null()) return fallback;
    if (!c[key].is_boolean()) fail(SURGEON_ERR_IO, path + ": \"" + key + "\" must be true or false, got " + c[key].dump());
    return c[key].get<bool>();
}

// A positive number used as a float: another type or a value <= 0 is a malformed config
// (SURGEON_ERR_IO); a value that is not finite, or that converts to 0 or Inf in float
// (1e-300, 1e39), is SURGEON_ERR_NUMERIC.
float config_float(const nlohmann::json& c, const char* key, float fallback, const std::string& path) {
    if (!c.contains(key) || c[key].is_null()) return fallback;
    const auto& v = c[key];
    if (!v.is_number() || v.get<double>() <= 0)
        fail(SURGEON_ERR_IO, path + ": \"" + key + "\" must be a positive number, got " + v.dump());
    const float f = static_cast<float>(v.get<double>());
    if (!std::isfinite(f) || !(f > 0))
        fail(SURGEON_ERR_NUMERIC, path + ": \"" + key + "\" = " + v.dump() + " is not a positive finite float");
    return f;
}


// transformers' rope_scaling (or rope_parameters, where newer configs also keep
// rope_theta): the kinds a forward at a fixed context can reproduce.
RopeScaling parse_rope_scaling(const nlohmann::json& c, const std::string& path, float* theta) {
    const char* key = c.contains("rope_parameters") && !c["rope_parameters"].is_null() ? "rope_parameters"
                                                                                         : "rope_scaling";
    RopeScaling r;
    if (!c.contains(key) || c[key].is_null()) return r;
    const nlohmann::json& s = c[key];
    const std::string where = std::string(key) + ".";
    if (!s.is_object()) fail(SURGEON_ERR_IO, path + ": \"" + key + "\" must be an object, got " + s.dump());
    if (s.contains("rope_theta")) *theta = config_float(s, "rope_theta", *theta, path);
    std::string type = config_string(s, "rope_type", "", path);
    if (type.empty()) type = config_string(s, "type", "default", path);
    if (type == "default") return r;
    if (type != "linear" && type != "dynamic" && type != "llama3")
        fail(SURGEON_ERR_UNSUPPORTED, path + ": " + where + "rope_type '" + type +
                                          "' is not supported (default, linear, dynamic and llama3 are)");
    r.factor = config_float(s, "factor", 1.0f, path);
    if (s.contains("original_max_position_embeddings") && !s["original_max_position_embeddings"].is_null())
        r.original_max_positions = config_int(s, "original_max_position_embeddings", path);
    if (type == "linear") {
        r.kind = RopeScalingKind::linear;
    } else if (type == "dynamic") {
        r.kind = RopeScalingKind::dynamic;
    } else {
        r.kind = RopeScalingKind::llama3;
        r.low_freq_factor = config_float(s, "low_freq_factor", 1.0f, path);
        r.high_freq_factor = config_float(s, "high_freq_factor", 4.0f, path);
        if (r.original_max_positions == 0)
            fail(SURGEON_ERR_IO, path + ": " + where + "original_max_position_embeddings is missing (llama3 scaling)");
        if (!(r.high_freq_factor > r.low_freq_factor))
            fail(SURGEON_ERR_IO, path + ": " + where + "high_freq_factor must exceed low_freq_factor");
    }
    return r;
}

// Non-negative integer lists (mlp_only_layers).
std::vector<int64_t> config_int_list(const nlohmann::json& c, const char* key, const std::string& path) {
    std::vector<int64_t> out;
    if (!c.contains(key) || c[key].is_null()) return out;
    if (!c[key].is_array()) fail(SURGEON_ERR_IO, path + ": \"" + key + "\" must be a list, got " + c[key].dump());
    for (const auto& v : c[key]) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0)
            fail(SURGEON_ERR_IO, path + ": \"" + key + "\" must list block indices, got " + c[key].dump());
        out.push_back(v.get<int64_t>());
    }
    return out;
}

ModelConfig parse_config(const nlohmann::json& c, const std::string& path) {
    if (!c.is_object()) fail(SURGEON_ERR_IO, path + ": not a JSON object");
    const std::string type = config_string(c, "model_type", "llama", path);
    const bool qwen = type == "qwen2" || type == "qwen3" || type == "qwen2_moe" || type == "qwen3_moe";
    const bool mistral = type == "mistral" || type == "mixtral";
    if (type != "llama" && !mistral && !qwen)
        fail(SURGEON_ERR_UNSUPPORTED, path + ": model_type '" + type + "' is not supported (llama, mistral, qwen2, "
                                          "qwen3, mixtral, qwen2_moe, qwen3_moe are)");
    if (config_string(c, "hidden_act", "silu", path) != "silu")
        fail(SURGEON_ERR_UNSUPPORTED, path + ": hidden_act must be silu");
    if (config_bool(c, "mlp_bias", false, path))
        fail(SURGEON_ERR_UNSUPPORTED, path + ": mlp_bias = true is not supported");

    ModelConfig m;
    m.family = type;
    m.dim = config_int(c, "hidden_size", path);
    m.hidden_dim = config_int(c, "intermediate_size", path);
    m.n_layers = config_int(c, "num_hidden_layers", path);
    m.n_heads = config_int(c, "num_attention_heads", path);
    m.n_kv_heads = config_int(c, "num_key_value_heads", path, m.n_heads);
    m.vocab_size = config_int(c, "vocab_size", path);
    m.seq_len = config_int(c, "max_position_embeddings", path, int64_t{2048});
    m.norm_eps = config_float(c, "rms_norm_eps", 1e-6f, path);
    m.rope_theta = config_float(c, "rope_theta", 10000.0f, path);
    m.rope_scaling = parse_rope_scaling(c, path, &m.rope_theta);
    m.shared_classifier = config_bool(c, "tie_word_embeddings", false, path);
    // head_dim (transformers' key) may differ from hidden_size / heads, for instance after
    // heads were removed; it stays 0 in the config when it is the derived value.
    if (c.contains("head_dim") && !c["head_dim"].is_null()) {
        const int64_t head_dim = config_int(c, "head_dim", path);
        if (m.dim % m.n_heads != 0 || head_dim != m.dim / m.n_heads) m.head_dim = head_dim;
    }
    if (!m.attention_consistent())
        fail(SURGEON_ERR_IO, path + ": hidden_size " + std::to_string(m.dim) + ", heads " +
                                 std::to_string(m.n_heads) + "/" + std::to_string(m.n_kv_heads) +
                                 (m.head_dim ? ", head_dim " + std::to_string(m.head_dim) : std::string()) +
                                 " do not give an even head size shared by all heads");
    // Each key is at most 2^40; their products (q_proj rows) must stay within int64.
    if (m.head_size() > (int64_t{1} << 40) / m.n_heads)
        fail(SURGEON_ERR_IO, path + ": num_attention_heads " + std::to_string(m.n_heads) + " × head_dim " +
                                 std::to_string(m.head_size()) + " exceeds 2^40");

    // Biases: Qwen2 always has q/k/v biases; Llama and Qwen3 have q/k/v/o biases when
    // attention_bias is set; Mistral has none.
    const bool attention_bias = config_bool(c, "attention_bias", false, path);
    if (type == "qwen2" || type == "qwen2_moe") {
        m.qkv_bias = true;
    } else if (attention_bias) {
        if (mistral) fail(SURGEON_ERR_UNSUPPORTED, path + ": attention_bias = true is not part of " + type);
        m.qkv_bias = m.o_bias = true;
    }
    m.qk_norm = type == "qwen3" || type == "qwen3_moe";
    if (c.contains("surgeon_activation_quantization")) {
        const auto& a = c["surgeon_activation_quantization"];
        if (!a.is_object() || config_string(a, "granularity", "", path) != "per_token" ||
            !config_bool(a, "dynamic", false, path) || config_bool(a, "symmetric", true, path))
            fail(SURGEON_ERR_UNSUPPORTED, path + ": surgeon_activation_quantization must be per-token, dynamic and "
                                                 "asymmetric, got " + a.dump());
        const int64_t bits = config_int(a, "bits", path);
        if (bits < 2 || bits > 16)
            fail(SURGEON_ERR_IO, path + ": activation bits must be in [2, 16], got " + std::to_string(bits));
        m.act_bits = static_cast<int>(bits);
    }
    // Sliding windows: Mistral's applies to every block; Qwen's (use_sliding_window) only
    // to blocks past max_window_layers, which this block description does not model.
    if (mistral && c.contains("sliding_window") && !c["sliding_window"].is_null()) {
        m.sliding_window = config_int(c, "sliding_window", path);
    }
    if (qwen && config_bool(c, "use_sliding_window", false, path))
        fail(SURGEON_ERR_UNSUPPORTED, path + ": use_sliding_window = true is not supported (per-block windows)");

    if (type == "mixtral") {
        m.moe.n_experts = config_int(c, "num_local_experts", path);
        m.moe.top_k = config_int(c, "num_experts_per_tok", path);
        m.moe.expert_dim = m.hidden_dim;
        m.moe.norm_topk_prob = true;  // Mixtral always renormalizes its top-k weights
    } else if (type == "qwen2_moe" || type == "qwen3_moe") {
        m.moe.n_experts = config_int(c, "num_experts", path);
        m.moe.top_k = config_int(c, "num_experts_per_tok", path);
        m.moe.expert_dim = config_int(c, "moe_intermediate_size", path);
        m.moe.norm_topk_prob = config_bool(c, "norm_topk_prob", false, path);
        m.moe.sparse_step = config_int(c, "decoder_sparse_step", path, int64_t{1});
        m.moe.dense_blocks = config_int_list(c, "mlp_only_layers", path);
        if (type == "qwen2_moe") m.moe.shared_dim = config_int(c, "shared_expert_intermediate_size", path);
    }
    if (m.moe.n_experts > 0 && m.moe.top_k > m.moe.n_experts)
        fail(SURGEON_ERR_IO, path + ": num_experts_per_tok " + std::to_string(m.moe.top_k) + " exceeds the " +
                                 std::to_string(m.moe.n_experts) + " experts");
    return m;
}


constexpr const char* kEmbedding = "model.embed_tokens.weight";
constexpr const char* kClassifier = "lm_head.weight";
constexpr const char* kFinalNorm = "model.norm.weight";

// Checks tensors by name, dtype and shape (-1: any size) without reading them, and
// remembers which were claimed, so that what is left over can be reported.
class TensorChecker {
public:
    TensorChecker(const std::string& dir, const TensorStore& store, std::string family)
        : dir_(dir), store_(store), family_(std::move(family)) {}
    const TensorStore& store() const { return store_; }
    const std::string& dir() const { return dir_; }
    bool has(const std::string& name) const { return store_.contains(name); }

    std::vector<int64_t> shape(const std::string& name, size_t rank) const {
        const auto& s = store_.info(name).shape;
        if (s.size() != rank)
            fail(SURGEON_ERR_IO, store_.path_of(name) + ": tensor '" + name + "' has rank " + std::to_string(s.size()) +
                                     ", expected " + std::to_string(rank));
        return s;
    }
    void vector(const std::string& name, int64_t n) {
        const auto s = shape(name, 1);
        expect(name, s[0], n, "length");
        claim_floats(name);
    }
    // `layout` (may be empty) says where an expected size comes from. Returns the shape.
    std::vector<int64_t> matrix(const std::string& name, int64_t rows, int64_t cols, const std::string& layout = "") {
        const auto s = shape(name, 2);
        expect(name, s[0], rows, "rows", layout);
        expect(name, s[1], cols, "columns", layout);
        claim_floats(name);
        return s;
    }
    void mark_used(const std::string& name) { used_.insert(name); }
    void claim(const std::string& name) { claim_floats(name); }
    void expect(const std::string& name, int64_t got, int64_t want, const char* what,
                const std::string& layout = "") const {
        if (want >= 0 && got != want)
            fail(SURGEON_ERR_IO, store_.path_of(name) + ": tensor '" + name + "' has " + std::to_string(got) + " " +
                                     what + ", expected " + std::to_string(want) +
                                     (layout.empty() ? "" : " (" + layout + ")"));
    }
    // Tensors nobody asked for mean an architecture we would silently get wrong (biases…),
    // or, for blocks past num_hidden_layers, a config that disagrees with its tensors.
    void check_all_used(int64_t n_layers) const {
        const std::string blocks = "model.layers.";
        for (const std::string& name : store_.names()) {
            if (used_.count(name)) continue;
            if (name.size() >= 20 && name.compare(name.size() - 20, 20, "rotary_emb.inv_freq") == 0) continue;
            if (name.compare(0, blocks.size(), blocks) == 0) {
                const long long block = std::atoll(name.c_str() + blocks.size());
                if (block >= n_layers)
                    fail(SURGEON_ERR_IO, store_.path_of(name) + ": tensor '" + name + "' belongs to a block past "
                                             "num_hidden_layers = " + std::to_string(n_layers));
            }
            fail(SURGEON_ERR_UNSUPPORTED, store_.path_of(name) + ": unexpected tensor '" + name +
                                              "' (not part of a " + family_ + " model with this config)");
        }
    }

private:
    void claim_floats(const std::string& name) {
        const Dtype d = store_.info(name).dtype;
        if (!is_float_dtype(d))
            fail(SURGEON_ERR_IO, store_.path_of(name) + ": tensor '" + name + "' has dtype " + dtype_name(d) +
                                     " (F32, F16, BF16 or F64 expected)");
        used_.insert(name);
    }

    std::string dir_;
    const TensorStore& store_;
    std::string family_;
    std::set<std::string> used_;
};

// Where a block linear is stored: `<prefix>.weight`, or GPTQ-packed as
// `<prefix>.{qweight,qzeros,scales,g_idx}`.
struct StoredLinear {
    std::string prefix;
    int64_t rows = 0, cols = 0;
    bool packed = false;
};

StoredLinear check_linear(TensorChecker& r, const std::string& prefix, int64_t rows, int64_t cols,
                          const GptqCheckpointInfo* gptq, const std::string& layout = "") {
    if (r.has(prefix + ".weight") || !gptq) {
        const auto s = r.matrix(prefix + ".weight", rows, cols, layout);
        return {prefix, s[0], s[1], false};
    }
    if (!r.has(prefix + ".qweight"))
        fail(SURGEON_ERR_IO, r.dir() + ": checkpoint has neither '" + prefix + ".weight' nor '" + prefix + ".qweight'");
    // Sizes the caller leaves open (sliced FFNs) come from the packed tensors themselves;
    // check_gptq_linear then checks every tensor against them.
    const int64_t out = rows >= 0 ? rows : r.shape(prefix + ".qweight", 2)[1];
    const int64_t in = cols >= 0 ? cols : r.shape(prefix + ".g_idx", 1)[0];
    check_gptq_linear(r.store(), prefix, gptq->bits, in, out);
    for (const char* part : {".qweight", ".qzeros", ".scales", ".g_idx"}) r.mark_used(prefix + part);
    return {prefix, out, in, true};
}

class HfSource final : public ModelSource {
public:
    HfSource(const std::string& dir, Dtype* source_dtype);
    LayerWeights block(int64_t b) const override;
    std::vector<float> final_norm() const override { return read_vector(kFinalNorm); }
    Matrix embedding_rows(int64_t r0, int64_t r1) const override { return rows_of(kEmbedding, r0, r1); }
    Matrix classifier_rows(int64_t r0, int64_t r1) const override {
        return rows_of(config_.shared_classifier ? kEmbedding : kClassifier, r0, r1);
    }
    std::string fingerprint() const override { return fingerprint_; }

private:
    Matrix rows_of(const std::string& name, int64_t r0, int64_t r1) const;
    Matrix read(const StoredLinear& l) const;
    std::vector<float> read_vector(const std::string& name) const;
    // Slab e of a fused 3-D expert tensor (E × rows × cols).
    Matrix read_slab(const std::string& name, int64_t e, int64_t rows, int64_t cols) const;
    void read_moe(int64_t b, LayerWeights& L) const;
    // SURGEON_ERR_NUMERIC naming the file and the tensor when one of the n values of tensor
    // `name` just converted to fp32 (starting at element `first`) is NaN or Inf (an F64
    // value beyond the float range converts to Inf).
    void check_finite(const std::string& name, const float* values, int64_t n, int64_t first = 0) const {
        require_all_finite(values, n, store_->path_of(name) + ": tensor '" + name + "'", first);
    }

    std::optional<GptqCheckpointInfo> gptq_;
    std::unique_ptr<TensorStore> store_;
    std::vector<std::array<StoredLinear, 7>> linears_;  // per block, in kLinearNames order
    // Routed experts in the per-expert layout (w1, w2, w3), per block (empty: dense block
    // or fused layout).
    std::vector<std::vector<std::array<StoredLinear, 3>>> experts_;
    std::string fingerprint_;
};

HfSource::HfSource(const std::string& dir, Dtype* source_dtype) {
    const std::string config_path = (fs::path(dir) / "config.json").string();
    const nlohmann::json config = read_json_file(config_path);
    config_ = parse_config(config, config_path);
    ModelConfig& c = config_;
    GptqCheckpointInfo gptq;
    if (read_gptq_info(dir, config, &gptq)) gptq_ = gptq;
    const GptqCheckpointInfo* q = gptq_ ? &*gptq_ : nullptr;

    store_ = std::make_unique<TensorStore>(dir);
    TensorChecker r(dir, *store_, config_.family);
    const int64_t kv_dim = c.kv_dim();
    const std::string head = " × head_dim " + std::to_string(c.head_size());
    const std::string q_layout = "num_attention_heads " + std::to_string(c.n_heads) + head;
    const std::string kv_layout = "num_key_value_heads " + std::to_string(c.n_kv_heads) + head;
    r.matrix(kEmbedding, c.vocab_size, c.dim);
    // Newer transformers store each MoE block's experts as two 3-D tensors.
    for (int64_t i = 0; c.moe.n_experts > 0 && i < c.n_layers; ++i)
        if (c.is_moe_block(i)) {
            c.moe.fused = r.has(hf_layer_prefix(i) + "mlp.experts.gate_up_proj");
            break;
        }
    int64_t widest_ffn = 0;
    for (int64_t i = 0; i < c.n_layers; ++i) {
        const std::string p = hf_layer_prefix(i);
        r.vector(p + "input_layernorm.weight", c.dim);
        r.vector(p + "post_attention_layernorm.weight", c.dim);
        if (c.qkv_bias) {
            r.vector(hf_attention_extra(i, "bq"), c.q_dim());
            r.vector(hf_attention_extra(i, "bk"), kv_dim);
            r.vector(hf_attention_extra(i, "bv"), kv_dim);
        }
        if (c.o_bias) r.vector(hf_attention_extra(i, "bo"), c.dim);
        if (c.qk_norm) {
            r.vector(hf_attention_extra(i, "q_norm"), c.head_size());
            r.vector(hf_attention_extra(i, "k_norm"), c.head_size());
        }
        const bool moe = c.is_moe_block(i);
        std::array<StoredLinear, 7> L;  // wq wk wv wo w1 w2 w3
        L[0] = check_linear(r, hf_linear_prefix(i, "wq"), c.q_dim(), c.dim, q, q_layout);
        L[1] = check_linear(r, hf_linear_prefix(i, "wk"), kv_dim, c.dim, q, kv_layout);
        L[2] = check_linear(r, hf_linear_prefix(i, "wv"), kv_dim, c.dim, q, kv_layout);
        L[3] = check_linear(r, hf_linear_prefix(i, "wo"), c.dim, c.q_dim(), q, q_layout);
        std::vector<std::array<StoredLinear, 3>> experts;
        if (!moe || c.moe.shared_dim > 0) {
            // The dense FFN, or the shared expert of a MoE block (its width as stored).
            L[4] = check_linear(r, hf_linear_prefix(c, i, "w1"), -1, c.dim, q);
            L[6] = check_linear(r, hf_linear_prefix(c, i, "w3"), L[4].rows, c.dim, q);
            L[5] = check_linear(r, hf_linear_prefix(c, i, "w2"), c.dim, L[4].rows, q);
        }
        if (moe) {
            const std::string m = hf_moe_prefix(c, i);
            const int64_t E = c.moe.n_experts, f = c.moe.expert_dim;
            r.matrix(m + "gate.weight", E, c.dim, "the router: num_experts × hidden_size");
            if (c.moe.shared_dim > 0) r.matrix(p + "mlp.shared_expert_gate.weight", 1, c.dim);
            if (c.moe.fused) {
                const std::string gate_up = m + "experts.gate_up_proj", down = m + "experts.down_proj";
                for (const auto& [name, rows, cols] : {std::tuple<std::string, int64_t, int64_t>{gate_up, 2 * f, c.dim},
                                                       std::tuple<std::string, int64_t, int64_t>{down, c.dim, f}}) {
                    const auto s3 = r.shape(name, 3);
                    r.expect(name, s3[0], E, "experts");
                    r.expect(name, s3[1], rows, "rows");
                    r.expect(name, s3[2], cols, "columns");
                    r.claim(name);
                }
            } else {
                for (int64_t e = 0; e < E; ++e) {
                    std::array<StoredLinear, 3> x;  // w1 w2 w3
                    x[0] = check_linear(r, hf_expert_linear_prefix(c, i, e, "w1"), f, c.dim, q);
                    x[2] = check_linear(r, hf_expert_linear_prefix(c, i, e, "w3"), f, c.dim, q);
                    x[1] = check_linear(r, hf_expert_linear_prefix(c, i, e, "w2"), c.dim, f, q);
                    experts.push_back(x);
                }
            }
        }
        ffn_sizes_.push_back(L[4].rows);
        if (!moe) widest_ffn = std::max(widest_ffn, L[4].rows);
        linears_.push_back(std::move(L));
        experts_.push_back(std::move(experts));
    }
    c.hidden_dim = widest_ffn > 0 ? widest_ffn : c.hidden_dim;
    r.vector(kFinalNorm, c.dim);
    if (c.shared_classifier) {
        if (r.has(kClassifier)) r.mark_used(kClassifier);  // tied: HF ignores it too
    } else {
        if (!r.has(kClassifier))
            fail(SURGEON_ERR_IO, dir + ": tie_word_embeddings is false but lm_head.weight is missing");
        r.matrix(kClassifier, c.vocab_size, c.dim);
    }
    r.check_all_used(c.n_layers);

    std::vector<std::string> stamps = {file_stamp(config_path)};
    std::error_code ec;
    const fs::path quantize_config = fs::path(dir) / "quantize_config.json";
    if (gptq_ && fs::is_regular_file(quantize_config, ec)) stamps.push_back(file_stamp(quantize_config.string()));
    for (const std::string& s : store_->stamps()) stamps.push_back(s);
    fingerprint_ = join(stamps, "; ");
    if (source_dtype) *source_dtype = store_->info(kEmbedding).dtype;
}

Matrix HfSource::rows_of(const std::string& name, int64_t r0, int64_t r1) const {
    check_rows(r0, r1);
    Matrix m(r1 - r0, config_.dim);
    store_->read_f32_rows(name, r0, r1, m.data.data());
    check_finite(name, m.data.data(), static_cast<int64_t>(m.data.size()), r0 * config_.dim);
    return m;
}

std::vector<float> HfSource::read_vector(const std::string& name) const {
    std::vector<float> v = store_->read_f32(name);
    check_finite(name, v.data(), static_cast<int64_t>(v.size()));
    return v;
}

Matrix HfSource::read(const StoredLinear& l) const {
    if (l.packed) {
        Matrix m = dequantize_gptq(read_gptq_linear(*store_, l.prefix, gptq_->bits, l.cols, l.rows), gptq_->format);
        require_all_finite(m.data.data(), static_cast<int64_t>(m.data.size()),
                           store_->path_of(l.prefix + ".scales") + ": GPTQ linear '" + l.prefix + "' (from its scales)");
        return m;
    }
    Matrix m(l.rows, l.cols);
    store_->read_f32_rows(l.prefix + ".weight", 0, l.rows, m.data.data());
    check_finite(l.prefix + ".weight", m.data.data(), static_cast<int64_t>(m.data.size()));
    return m;
}

Matrix HfSource::read_slab(const std::string& name, int64_t e, int64_t rows, int64_t cols) const {
    Matrix m(rows, cols);
    store_->read_f32_rows(name, e, e + 1, m.data.data());
    check_finite(name, m.data.data(), static_cast<int64_t>(m.data.size()), e * rows * cols);
    return m;
}

void HfSource::read_moe(int64_t b, LayerWeights& L) const {
    const ModelConfig& c = config_;
    const std::string m = hf_moe_prefix(c, b);
    L.router = Matrix(c.moe.n_experts, c.dim, read_vector(m + "gate.weight"));
    if (c.moe.shared_dim > 0)
        L.shared_gate = Matrix(1, c.dim, read_vector(hf_layer_prefix(b) + "mlp.shared_expert_gate.weight"));
    L.experts.resize(static_cast<size_t>(c.moe.n_experts));
    const int64_t f = c.moe.expert_dim;
    for (int64_t e = 0; e < c.moe.n_experts; ++e) {
        Expert& x = L.experts[static_cast<size_t>(e)];
        if (!c.moe.fused) {
            const auto& stored = experts_[static_cast<size_t>(b)][static_cast<size_t>(e)];
            x.w1 = read(stored[0]);
            x.w2 = read(stored[1]);
            x.w3 = read(stored[2]);
            continue;
        }
        // gate_up_proj[e] stacks the gate rows over the up rows.
        const Matrix gate_up = read_slab(m + "experts.gate_up_proj", e, 2 * f, c.dim);
        x.w1 = Matrix(f, c.dim);
        x.w3 = Matrix(f, c.dim);
        std::copy(gate_up.data.begin(), gate_up.data.begin() + f * c.dim, x.w1.data.begin());
        std::copy(gate_up.data.begin() + f * c.dim, gate_up.data.end(), x.w3.data.begin());
        x.w2 = read_slab(m + "experts.down_proj", e, c.dim, f);
    }
}

LayerWeights HfSource::block(int64_t b) const {
    ffn_size(b);  // range check
    const ModelConfig& c = config_;
    const std::string p = hf_layer_prefix(b);
    LayerWeights L;
    L.rms_att = read_vector(p + "input_layernorm.weight");
    L.rms_ffn = read_vector(p + "post_attention_layernorm.weight");
    const auto& stored = linears_[static_cast<size_t>(b)];
    for (size_t k = 0; k < stored.size(); ++k)
        linear(L, kLinearNames[k]) = stored[k].prefix.empty() ? Matrix(0, c.dim) : read(stored[k]);
    if (stored[5].prefix.empty()) L.w2 = Matrix(c.dim, 0);
    // HF orders q/k rows for rotate-half RoPE; Model rotates adjacent pairs.
    L.wq = unpermute_qk_from_hf(L.wq, c.n_heads);
    L.wk = unpermute_qk_from_hf(L.wk, c.n_kv_heads);
    if (c.qkv_bias) {
        L.bq = unpermute_qk_vector_from_hf(read_vector(hf_attention_extra(b, "bq")), c.n_heads);
        L.bk = unpermute_qk_vector_from_hf(read_vector(hf_attention_extra(b, "bk")), c.n_kv_heads);
        L.bv = read_vector(hf_attention_extra(b, "bv"));
    }
    if (c.o_bias) L.bo = read_vector(hf_attention_extra(b, "bo"));
    if (c.qk_norm) {
        L.q_norm = unpermute_qk_vector_from_hf(read_vector(hf_attention_extra(b, "q_norm")), 1);
        L.k_norm = unpermute_qk_vector_from_hf(read_vector(hf_attention_extra(b, "k_norm")), 1);
    }
    if (c.is_moe_block(b)) read_moe(b, L);
    return L;
}

// ---------------------------------------------------------------------------------------
// llama2.c files

constexpr int32_t kVersionedMagic = 0x616b3432;  // "ak42": llama2.c's newer export formats

ModelConfig parse_header(const int32_t h[7], const std::string& path) {
    auto bad = [&](const std::string& why) {
        fail(SURGEON_ERR_IO, "'" + path + "' is not a llama2.c checkpoint: " + why);
    };
    if (h[0] == kVersionedMagic)
        fail(SURGEON_ERR_IO, "'" + path + "' is a versioned llama2.c export; only the legacy "
                             "format (export --version 0) is supported");
    auto in_range = [](int64_t v, int64_t hi) { return v >= 1 && v <= hi; };
    ModelConfig c;
    c.dim = h[0];
    c.hidden_dim = h[1];
    c.n_layers = h[2];
    c.n_heads = h[3];
    c.n_kv_heads = h[4];
    c.shared_classifier = h[5] > 0;
    c.vocab_size = h[5] < 0 ? -static_cast<int64_t>(h[5]) : h[5];
    c.seq_len = h[6];
    // Bounds far above any real model keep every size product within int64.
    if (!in_range(c.dim, 1 << 20) || !in_range(c.hidden_dim, 1 << 22) ||
        !in_range(c.n_layers, 1 << 12) || !in_range(c.n_heads, 1 << 12) ||
        !in_range(c.n_kv_heads, 1 << 12) || !in_range(c.vocab_size, 1 << 24) ||
        !in_range(c.seq_len, 1 << 24))
        bad("header field out of range");
    if (c.dim % c.n_heads != 0) bad("dim is not a multiple of n_heads");
    if (c.head_size() % 2 != 0) bad("odd head size");
    if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0)
        bad("n_heads is not a multiple of n_kv_heads");
    return c;
}

int64_t expected_floats(const ModelConfig& c) {
    const int64_t per_layer = 2 * c.dim + 2 * c.dim * c.dim + 2 * c.kv_dim() * c.dim +
                              3 * c.hidden_dim * c.dim;
    const int64_t rope = c.seq_len * c.head_size();  // real and imaginary halves
    return c.vocab_size * c.dim + c.n_layers * per_layer + c.dim + rope +
           (c.shared_classifier ? 0 : c.vocab_size * c.dim);
}

class Llama2cSource final : public ModelSource {
public:
    explicit Llama2cSource(const std::string& path);
    LayerWeights block(int64_t b) const override;
    std::vector<float> final_norm() const override {
        std::vector<float> v(static_cast<size_t>(config_.dim));
        read(rms_final_, config_.dim, v.data(), "rms_final");
        return v;
    }
    Matrix embedding_rows(int64_t r0, int64_t r1) const override { return rows_of(tok_emb_, r0, r1, "tok_emb"); }
    Matrix classifier_rows(int64_t r0, int64_t r1) const override {
        return config_.shared_classifier ? embedding_rows(r0, r1) : rows_of(wcls_, r0, r1, "wcls");
    }
    std::string fingerprint() const override { return file_.stamp(); }

private:
    // One kind of block array: n_layers arrays of rows × cols floats, one after another.
    struct Arrays {
        const char* name;
        int64_t rows, cols;
        uint64_t offset = 0;
    };
    // Copies n floats at byte `offset` to `out` and rejects non-finite values
    // (SURGEON_ERR_NUMERIC).
    void read(uint64_t offset, int64_t n, float* out, const std::string& what) const;
    Matrix rows_of(uint64_t offset, int64_t r0, int64_t r1, const char* what) const;

    MappedFile file_;
    uint64_t tok_emb_ = 0, rms_final_ = 0, wcls_ = 0;
    std::array<Arrays, 9> arrays_;  // in file order: rms_att wq wk wv wo rms_ffn w1 w2 w3
};

Llama2cSource::Llama2cSource(const std::string& path) : file_(path) {
    int32_t header[7];
    if (file_.size() < sizeof header) fail(SURGEON_ERR_IO, "'" + path + "' is too short for a llama2.c header");
    std::memcpy(header, file_.bytes(0, sizeof header, "the header"), sizeof header);
    config_ = parse_header(header, path);
    const ModelConfig& c = config_;
    const uint64_t expected = sizeof header + 4 * static_cast<uint64_t>(expected_floats(c));
    if (file_.size() != expected)
        fail(SURGEON_ERR_IO, "'" + path + "' has " + std::to_string(file_.size()) +
                                 " bytes but its header describes " + std::to_string(expected));
    ffn_sizes_.assign(static_cast<size_t>(c.n_layers), c.hidden_dim);

    // Each kind of array is stored for all layers before the next kind starts.
    uint64_t at = sizeof header;
    auto take = [&](int64_t floats) {
        const uint64_t here = at;
        at += 4 * static_cast<uint64_t>(floats);
        return here;
    };
    tok_emb_ = take(c.vocab_size * c.dim);
    arrays_ = {{{"rms_att", c.dim, 1}, {"wq", c.dim, c.dim}, {"wk", c.kv_dim(), c.dim}, {"wv", c.kv_dim(), c.dim},
                {"wo", c.dim, c.dim}, {"rms_ffn", c.dim, 1}, {"w1", c.hidden_dim, c.dim},
                {"w2", c.dim, c.hidden_dim}, {"w3", c.hidden_dim, c.dim}}};
    for (Arrays& a : arrays_) a.offset = take(c.n_layers * a.rows * a.cols);
    rms_final_ = take(c.dim);
    take(c.seq_len * c.head_size());  // freq_cis: RoPE is recomputed from the config
    wcls_ = c.shared_classifier ? tok_emb_ : take(c.vocab_size * c.dim);
}

void Llama2cSource::read(uint64_t offset, int64_t n, float* out, const std::string& what) const {
    const uint64_t length = 4 * static_cast<uint64_t>(n);
    if (n > 0) std::memcpy(out, file_.bytes(offset, length, what), static_cast<size_t>(length));
    file_.release(offset, length);
    require_all_finite(out, n, "'" + file_.path() + "': " + what);
}

Matrix Llama2cSource::rows_of(uint64_t offset, int64_t r0, int64_t r1, const char* what) const {
    check_rows(r0, r1);
    const int64_t dim = config_.dim;
    Matrix m(r1 - r0, dim);
    read(offset + 4 * static_cast<uint64_t>(r0 * dim), (r1 - r0) * dim, m.data.data(), what);
    return m;
}

LayerWeights Llama2cSource::block(int64_t b) const {
    ffn_size(b);  // range check
    LayerWeights L;
    for (const Arrays& a : arrays_) {
        const int64_t n = a.rows * a.cols;
        const uint64_t offset = a.offset + 4 * static_cast<uint64_t>(b * n);
        const std::string what = std::string(a.name) + " of layer " + std::to_string(b);
        if (a.cols == 1) {
            std::vector<float>& v = std::string(a.name) == "rms_att" ? L.rms_att : L.rms_ffn;
            v.resize(static_cast<size_t>(n));
            read(offset, n, v.data(), what);
        } else {
            Matrix& m = linear(L, a.name);
            m = Matrix(a.rows, a.cols);
            read(offset, n, m.data.data(), what);
        }
    }
    return L;
}

}  // namespace

std::unique_ptr<ModelSource> open_hf(const std::string& dir, Dtype* source_dtype) {
    return std::make_unique<HfSource>(dir, source_dtype);
}

std::unique_ptr<ModelSource> open_llama2c(const std::string& path) { return std::make_unique<Llama2cSource>(path); }

std::unique_ptr<ModelSource> open_model(const std::string& path, Dtype* source_dtype) {
    if (detect_model_format(path) == ModelFormat::hf) return open_hf(path, source_dtype);
    auto source = open_llama2c(path);
    if (source_dtype) *source_dtype = Dtype::F32;
    return source;
}

}  // namespace surgeon::model
