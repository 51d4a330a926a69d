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
