#include "io/hf_model.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "io/model_reader.hpp"
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


}  // namespace

std::string hf_layer_prefix(int64_t layer) { return "model.layers." + std::to_string(layer) + "."; }

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
        if (llama2c_name == l.llama2c) return hf_layer_prefix(layer) + l.hf;
    fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown linear '" + llama2c_name + "'");
}

std::string hf_linear_prefix(const ModelConfig& config, int64_t layer, const std::string& llama2c_name) {
    const bool ffn = llama2c_name == "w1" || llama2c_name == "w2" || llama2c_name == "w3";
    if (!ffn || !config.is_moe_block(layer)) return hf_linear_prefix(layer, llama2c_name);
    const char* proj = llama2c_name == "w1" ? "gate_proj" : llama2c_name == "w2" ? "down_proj" : "up_proj";
    return hf_layer_prefix(layer) + "mlp.shared_expert." + proj;
}

std::string hf_moe_prefix(const ModelConfig& config, int64_t layer) {
    return hf_layer_prefix(layer) + (config.family == "mixtral" && !config.moe.fused ? "block_sparse_moe." : "mlp.");
}

std::string hf_expert_linear_prefix(const ModelConfig& config, int64_t layer, int64_t expert, const std::string& w) {
    require_arg(w == "w1" || w == "w2" || w == "w3", "unknown expert linear '" + w + "'");
    const std::string base = hf_moe_prefix(config, layer) + "experts." + std::to_string(expert) + ".";
    if (config.family == "mixtral") return base + w;
    return base + (w == "w1" ? "gate_proj" : w == "w2" ? "down_proj" : "up_proj");
}

std::string hf_attention_extra(int64_t layer, const std::string& part) {
    const std::string a = hf_layer_prefix(layer) + "self_attn.";
    if (part == "q_norm" || part == "k_norm") return a + part + ".weight";
    if (part == "bq") return a + "q_proj.bias";
    if (part == "bk") return a + "k_proj.bias";
    if (part == "bv") return a + "v_proj.bias";
    if (part == "bo") return a + "o_proj.bias";
    fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown attention part '" + part + "'");
}

std::vector<float> permute_qk_vector_to_hf(const std::vector<float>& v, int64_t heads) {
    const auto order = hf_qk_row_order(static_cast<int64_t>(v.size()), heads);
    std::vector<float> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = v[static_cast<size_t>(order[i])];
    return out;
}

std::vector<float> unpermute_qk_vector_from_hf(const std::vector<float>& v, int64_t heads) {
    const auto order = hf_qk_row_order(static_cast<int64_t>(v.size()), heads);
    std::vector<float> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[static_cast<size_t>(order[i])] = v[i];
    return out;
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

Model load_hf(const std::string& dir, Dtype* source_dtype) { return materialize(*open_hf(dir, source_dtype)); }

nlohmann::ordered_json hf_config(const Model& model, Dtype dtype) {
    std::vector<int64_t> ffn;
    for (const auto& L : model.layers) ffn.push_back(L.w1.rows);
    return hf_config(model.config, ffn, dtype);
}

namespace {

const char* architecture_of(const std::string& family) {
    if (family == "mistral") return "MistralForCausalLM";
    if (family == "qwen2") return "Qwen2ForCausalLM";
    if (family == "qwen3") return "Qwen3ForCausalLM";
    if (family == "mixtral") return "MixtralForCausalLM";
    if (family == "qwen2_moe") return "Qwen2MoeForCausalLM";
    if (family == "qwen3_moe") return "Qwen3MoeForCausalLM";
    return "LlamaForCausalLM";
}

nlohmann::ordered_json rope_scaling_json(const RopeScaling& r) {
    if (r.kind == RopeScalingKind::none) return nullptr;
    nlohmann::ordered_json j;
    j["rope_type"] = r.kind == RopeScalingKind::linear ? "linear" : r.kind == RopeScalingKind::dynamic ? "dynamic" : "llama3";
    j["factor"] = float_for_json(static_cast<float>(r.factor));
    if (r.kind == RopeScalingKind::llama3) {
        j["low_freq_factor"] = float_for_json(static_cast<float>(r.low_freq_factor));
        j["high_freq_factor"] = float_for_json(static_cast<float>(r.high_freq_factor));
    }
    if (r.original_max_positions > 0) j["original_max_position_embeddings"] = r.original_max_positions;
    return j;
}

}  // namespace

nlohmann::ordered_json hf_config(const ModelConfig& c, const std::vector<int64_t>& ffn, Dtype dtype) {
    // The dense FFN widths (MoE blocks list their shared expert's width instead).
    std::vector<int64_t> dense;
    for (size_t b = 0; b < ffn.size(); ++b)
        if (!c.is_moe_block(static_cast<int64_t>(b))) dense.push_back(ffn[b]);
    const bool uniform = std::adjacent_find(dense.begin(), dense.end(), std::not_equal_to<>()) == dense.end();
    const int64_t intermediate = dense.empty() ? c.hidden_dim : *std::max_element(dense.begin(), dense.end());
    const bool moe = c.moe.n_experts > 0, qwen2 = c.family == "qwen2" || c.family == "qwen2_moe";

    nlohmann::ordered_json j;
    j["architectures"] = {architecture_of(c.family)};
    j["model_type"] = c.family;
    j["hidden_size"] = c.dim;
    j["intermediate_size"] = c.family == "mixtral" ? c.moe.expert_dim : intermediate;
    if (!uniform) j["surgeon_intermediate_sizes"] = ffn;  // sliced FFNs: per-layer sizes
    j["num_hidden_layers"] = c.n_layers;
    j["num_attention_heads"] = c.n_heads;
    j["num_key_value_heads"] = c.n_kv_heads;
    j["head_dim"] = c.head_size();
    j["vocab_size"] = c.vocab_size;
    j["max_position_embeddings"] = c.seq_len;
    j["rms_norm_eps"] = float_for_json(c.norm_eps);
    j["rope_theta"] = float_for_json(c.rope_theta);
    j["rope_scaling"] = rope_scaling_json(c.rope_scaling);
    j["tie_word_embeddings"] = c.shared_classifier;
    j["hidden_act"] = "silu";
    if (!qwen2) j["attention_bias"] = c.o_bias;
    if (c.family == "llama") j["mlp_bias"] = false;
    if (c.family == "mistral" || c.family == "mixtral")
        j["sliding_window"] = c.sliding_window > 0 ? nlohmann::ordered_json(c.sliding_window) : nullptr;
    if (c.family.compare(0, 4, "qwen") == 0) j["use_sliding_window"] = false;
    if (moe) {
        j["num_experts_per_tok"] = c.moe.top_k;
        if (c.family == "mixtral") {
            j["num_local_experts"] = c.moe.n_experts;
        } else {
            j["num_experts"] = c.moe.n_experts;
            j["moe_intermediate_size"] = c.moe.expert_dim;
            j["norm_topk_prob"] = c.moe.norm_topk_prob;
            j["decoder_sparse_step"] = c.moe.sparse_step;
            j["mlp_only_layers"] = c.moe.dense_blocks;
            if (c.family == "qwen2_moe") j["shared_expert_intermediate_size"] = c.moe.shared_dim;
        }
        j["output_router_logits"] = false;
    }
    if (c.act_bits != 0)  // read back by model_reader: evaluation quantizes activations the same way
        j["surgeon_activation_quantization"] = {{"bits", c.act_bits}, {"granularity", "per_token"},
                                                {"dynamic", true}, {"symmetric", false}};
    j["attention_dropout"] = 0.0;
    j["initializer_range"] = 0.02;
    if (c.family == "llama") j["pretraining_tp"] = 1;
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
