#include "io/hf_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "core/error.hpp"
#include "io/gptq_export.hpp"
#include "io/llama2c.hpp"
#include "io/model_writer.hpp"

namespace surgeon::model {
namespace {

namespace fs = std::filesystem;

struct HfLinear {
    const char* llama2c;
    const char* hf;
};
constexpr HfLinear kLinears[] = {
    {"wq", "self_attn.q_proj"}, {"wk", "self_attn.k_proj"}, {"wv", "self_attn.v_proj"},
    {"wo", "self_attn.o_proj"}, {"w1", "mlp.gate_proj"},    {"w2", "mlp.down_proj"},
    {"w3", "mlp.up_proj"},
};

std::string layer_prefix(int64_t i) { return "model.layers." + std::to_string(i) + "."; }

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

double config_number(const nlohmann::json& c, const char* key, double fallback, const std::string& path) {
    if (!c.contains(key) || c[key].is_null()) return fallback;
    const auto& v = c[key];
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() <= 0)
        fail(SURGEON_ERR_IO, path + ": \"" + key + "\" must be a positive number, got " + v.dump());
    return v.get<double>();
}

// The shortest decimal that reads back as the same float, so config.json shows 1e-05
// rather than 9.999999747378752e-06.
double float_for_json(float v) {
    char text[32];
    for (int digits = 1; digits <= 9; ++digits) {
        std::snprintf(text, sizeof text, "%.*g", digits, static_cast<double>(v));
        const double d = std::strtod(text, nullptr);
        if (static_cast<float>(d) == v) return d;
    }
    return static_cast<double>(v);
}

ModelConfig parse_config(const nlohmann::json& c, const std::string& path) {
    if (!c.is_object()) fail(SURGEON_ERR_IO, path + ": not a JSON object");
    const std::string type = config_string(c, "model_type", "llama", path);
    if (type != "llama" && type != "mistral")
        fail(SURGEON_ERR_UNSUPPORTED, path + ": model_type '" + type + "' is not a Llama-family model");
    if (c.contains("rope_scaling") && !c["rope_scaling"].is_null())
        fail(SURGEON_ERR_UNSUPPORTED, path + ": rope_scaling is not supported");
    if (config_string(c, "hidden_act", "silu", path) != "silu")
        fail(SURGEON_ERR_UNSUPPORTED, path + ": hidden_act must be silu");
    for (const char* key : {"attention_bias", "mlp_bias"})
        if (config_bool(c, key, false, path))
            fail(SURGEON_ERR_UNSUPPORTED, path + ": " + key + " = true is not supported");

    ModelConfig m;
    m.dim = config_int(c, "hidden_size", path);
    m.hidden_dim = config_int(c, "intermediate_size", path);
    m.n_layers = config_int(c, "num_hidden_layers", path);
    m.n_heads = config_int(c, "num_attention_heads", path);
    m.n_kv_heads = config_int(c, "num_key_value_heads", path, m.n_heads);
    m.vocab_size = config_int(c, "vocab_size", path);
    m.seq_len = config_int(c, "max_position_embeddings", path, int64_t{2048});
    m.norm_eps = static_cast<float>(config_number(c, "rms_norm_eps", 1e-6, path));
    m.rope_theta = static_cast<float>(config_number(c, "rope_theta", 10000.0, path));
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
    if (type == "mistral" && c.contains("sliding_window") && !c["sliding_window"].is_null() &&
        config_int(c, "sliding_window", path) < m.seq_len)
        fail(SURGEON_ERR_UNSUPPORTED, path + ": sliding-window attention is not supported");
    return m;
}

// Reads tensors by name, checks shapes (-1: any) and remembers what was consumed.
class Reader {
public:
    Reader(const std::string& dir) : dir_(dir), store_(dir) {}
    const TensorStore& store() const { return store_; }
    bool has(const std::string& name) const { return store_.contains(name); }

    std::vector<int64_t> shape(const std::string& name, size_t rank) {
        const auto& s = store_.info(name).shape;
        if (s.size() != rank)
            fail(SURGEON_ERR_IO, dir_ + ": tensor '" + name + "' has rank " + std::to_string(s.size()) +
                                     ", expected " + std::to_string(rank));
        return s;
    }
    std::vector<float> vector(const std::string& name, int64_t n) {
        const auto s = shape(name, 1);
        expect(name, s[0], n, "length");
        used_.insert(name);
        return store_.read_f32(name);
    }
    // `layout` (may be empty) says where an expected size comes from.
    Matrix matrix(const std::string& name, int64_t rows, int64_t cols, const std::string& layout = "") {
        const auto s = shape(name, 2);
        expect(name, s[0], rows, "rows", layout);
        expect(name, s[1], cols, "columns", layout);
        used_.insert(name);
        return Matrix(s[0], s[1], store_.read_f32(name));
    }
    void mark_used(const std::string& name) { used_.insert(name); }
    void expect(const std::string& name, int64_t got, int64_t want, const char* what,
                const std::string& layout = "") const {
        if (want >= 0 && got != want)
            fail(SURGEON_ERR_IO, dir_ + ": tensor '" + name + "' has " + std::to_string(got) + " " +
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
                    fail(SURGEON_ERR_IO, dir_ + ": tensor '" + name + "' belongs to a block past "
                                             "num_hidden_layers = " + std::to_string(n_layers));
            }
            fail(SURGEON_ERR_UNSUPPORTED, dir_ + ": unexpected tensor '" + name +
                                              "' (not part of a bias-free Llama model)");
        }
    }

private:
    std::string dir_;
    TensorStore store_;
    std::set<std::string> used_;
};

Matrix read_linear(Reader& r, const std::string& prefix, int64_t rows, int64_t cols,
                   const GptqCheckpointInfo* gptq, const std::string& layout = "") {
    if (r.has(prefix + ".weight") || !gptq) return r.matrix(prefix + ".weight", rows, cols, layout);
    if (!r.has(prefix + ".qweight"))
        fail(SURGEON_ERR_IO, "checkpoint has neither '" + prefix + ".weight' nor '" + prefix + ".qweight'");
    // Sizes the caller leaves open (sliced FFNs) come from the packed tensors themselves;
    // read_gptq_linear then checks every tensor against them.
    const int64_t out = rows >= 0 ? rows : r.shape(prefix + ".qweight", 2)[1];
    const int64_t in = cols >= 0 ? cols : r.shape(prefix + ".g_idx", 1)[0];
    const GptqLinear packed = read_gptq_linear(r.store(), prefix, gptq->bits, in, out);
    for (const char* part : {".qweight", ".qzeros", ".scales", ".g_idx"}) r.mark_used(prefix + part);
    return dequantize_gptq(packed, gptq->format);
}

}  // namespace

bool is_hf_dir(const std::string& path) {
    std::error_code ec;
    return fs::is_directory(path, ec) && fs::exists(fs::path(path) / "config.json", ec);
}

std::string llama2c_linear_name(const std::string& name) {
    for (const HfLinear& l : kLinears) {
        const std::string hf = l.hf;  // "self_attn.q_proj"
        if (name == hf || name == hf.substr(hf.find('.') + 1)) return l.llama2c;
    }
    return name;
}

std::string hf_linear_prefix(int64_t layer, const std::string& llama2c_name) {
    for (const auto& l : kLinears)
        if (llama2c_name == l.llama2c) return layer_prefix(layer) + l.hf;
    fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown linear '" + llama2c_name + "'");
}

std::vector<int64_t> hf_qk_row_order(int64_t rows, int64_t heads) {
    require_shape(heads > 0 && rows % heads == 0 && (rows / heads) % 2 == 0,
                  "q/k permutation: " + std::to_string(rows) + " rows do not split into " +
                      std::to_string(heads) + " heads of even size");
    const int64_t head = rows / heads, half = head / 2;
    std::vector<int64_t> order(static_cast<size_t>(rows));
    // HF row h·head + t·half + i holds llama2.c row h·head + 2i + t (t = 0 real, 1 imaginary).
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t t = 0; t < 2; ++t)
            for (int64_t i = 0; i < half; ++i) order[h * head + t * half + i] = h * head + 2 * i + t;
    return order;
}

Matrix permute_qk_to_hf(const Matrix& w, int64_t heads) {
    const auto order = hf_qk_row_order(w.rows, heads);
    Matrix out(w.rows, w.cols);
    for (int64_t r = 0; r < w.rows; ++r)
        std::copy(w.row(order[r]), w.row(order[r]) + w.cols, out.row(r));
    return out;
}

Matrix unpermute_qk_from_hf(const Matrix& w, int64_t heads) {
    const auto order = hf_qk_row_order(w.rows, heads);
    Matrix out(w.rows, w.cols);
    for (int64_t r = 0; r < w.rows; ++r)
        std::copy(w.row(r), w.row(r) + w.cols, out.row(order[r]));
    return out;
}

Model load_hf(const std::string& dir, Dtype* source_dtype) {
    const std::string config_path = (fs::path(dir) / "config.json").string();
    const nlohmann::json config = read_json_file(config_path);
    Model m;
    m.config = parse_config(config, config_path);
    ModelConfig& c = m.config;
    GptqCheckpointInfo gptq;
    const bool quantized = read_gptq_info(dir, config, &gptq);

    Reader r(dir);
    const int64_t kv_dim = c.kv_dim();
    const std::string head = " × head_dim " + std::to_string(c.head_size());
    const std::string q_layout = "num_attention_heads " + std::to_string(c.n_heads) + head;
    const std::string kv_layout = "num_key_value_heads " + std::to_string(c.n_kv_heads) + head;
    m.tok_emb = r.matrix("model.embed_tokens.weight", c.vocab_size, c.dim);
    if (source_dtype) *source_dtype = r.store().info("model.embed_tokens.weight").dtype;
    m.layers.resize(static_cast<size_t>(c.n_layers));
    int64_t widest_ffn = 0;
    for (int64_t i = 0; i < c.n_layers; ++i) {
        LayerWeights& L = m.layers[static_cast<size_t>(i)];
        const std::string p = layer_prefix(i);
        const GptqCheckpointInfo* q = quantized ? &gptq : nullptr;
        L.rms_att = r.vector(p + "input_layernorm.weight", c.dim);
        L.rms_ffn = r.vector(p + "post_attention_layernorm.weight", c.dim);
        L.wq = unpermute_qk_from_hf(read_linear(r, hf_linear_prefix(i, "wq"), c.q_dim(), c.dim, q, q_layout),
                                    c.n_heads);
        L.wk = unpermute_qk_from_hf(read_linear(r, hf_linear_prefix(i, "wk"), kv_dim, c.dim, q, kv_layout),
                                    c.n_kv_heads);
        L.wv = read_linear(r, hf_linear_prefix(i, "wv"), kv_dim, c.dim, q, kv_layout);
        L.wo = read_linear(r, hf_linear_prefix(i, "wo"), c.dim, c.q_dim(), q, q_layout);
        L.w1 = read_linear(r, hf_linear_prefix(i, "w1"), -1, c.dim, q);
        L.w3 = read_linear(r, hf_linear_prefix(i, "w3"), L.w1.rows, c.dim, q);
        L.w2 = read_linear(r, hf_linear_prefix(i, "w2"), c.dim, L.w1.rows, q);
        widest_ffn = std::max(widest_ffn, L.w1.rows);
    }
    c.hidden_dim = widest_ffn > 0 ? widest_ffn : c.hidden_dim;
    m.rms_final = r.vector("model.norm.weight", c.dim);
    if (c.shared_classifier) {
        if (r.has("lm_head.weight")) r.mark_used("lm_head.weight");  // tied: HF ignores it too
    } else {
        if (!r.has("lm_head.weight"))
            fail(SURGEON_ERR_IO, dir + ": tie_word_embeddings is false but lm_head.weight is missing");
        m.wcls = r.matrix("lm_head.weight", c.vocab_size, c.dim);
    }
    r.check_all_used(c.n_layers);
    return m;
}

nlohmann::ordered_json hf_config(const Model& model, Dtype dtype) {
    std::vector<int64_t> ffn;
    for (const auto& L : model.layers) ffn.push_back(L.w1.rows);
    return hf_config(model.config, ffn, dtype);
}

nlohmann::ordered_json hf_config(const ModelConfig& c, const std::vector<int64_t>& ffn, Dtype dtype) {
    const bool uniform = std::adjacent_find(ffn.begin(), ffn.end(), std::not_equal_to<>()) == ffn.end();
    const int64_t intermediate = ffn.empty() ? c.hidden_dim : *std::max_element(ffn.begin(), ffn.end());

    nlohmann::ordered_json j;
    j["architectures"] = {"LlamaForCausalLM"};
    j["model_type"] = "llama";
    j["hidden_size"] = c.dim;
    j["intermediate_size"] = intermediate;
    if (!uniform) j["surgeon_intermediate_sizes"] = ffn;  // sliced FFNs: per-layer sizes
    j["num_hidden_layers"] = c.n_layers;
    j["num_attention_heads"] = c.n_heads;
    j["num_key_value_heads"] = c.n_kv_heads;
    j["head_dim"] = c.head_size();
    j["vocab_size"] = c.vocab_size;
    j["max_position_embeddings"] = c.seq_len;
    j["rms_norm_eps"] = float_for_json(c.norm_eps);
    j["rope_theta"] = float_for_json(c.rope_theta);
    j["rope_scaling"] = nullptr;
    j["tie_word_embeddings"] = c.shared_classifier;
    j["hidden_act"] = "silu";
    j["attention_bias"] = false;
    j["mlp_bias"] = false;
    j["attention_dropout"] = 0.0;
    j["initializer_range"] = 0.02;
    j["pretraining_tp"] = 1;
    j["bos_token_id"] = 1;
    j["eos_token_id"] = 2;
    j["use_cache"] = true;
    j["torch_dtype"] = torch_dtype_name(dtype);
    return j;
}

void save_hf(const Model& model, const std::string& dir, Dtype dtype) {
    WriterOptions options;
    options.format = ModelFormat::hf;
    options.dtype = dtype;
    options.overwrite = true;
    write_model(model, dir, options);
}

}  // namespace surgeon::model
