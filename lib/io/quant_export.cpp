#include "io/quant_export.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/output_file.hpp"
#include "io/hf_model.hpp"

namespace surgeon::model {
namespace {

void check_stream(int bits, int64_t count, const char* what) {
    require_arg(bits >= 1 && bits <= 32 && count >= 0,
                std::string(what) + ": " + std::to_string(count) + " values of " + std::to_string(bits) +
                    " bits (bits must be in [1, 32])");
}

// "layers.<block>.<linear>" -> (block, linear); false when the name has another form.
bool parse_layer_name(const std::string& name, int64_t* block, std::string* linear) {
    const std::string head = "layers.";
    if (name.compare(0, head.size(), head) != 0) return false;
    const size_t dot = name.find('.', head.size());
    if (dot == std::string::npos || dot == head.size()) return false;
    const std::string digits = name.substr(head.size(), dot - head.size());
    if (digits.size() > 9 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return false;
    *block = std::stoll(digits);
    *linear = name.substr(dot + 1);
    return std::find_if(std::begin(kLinearNames), std::end(kLinearNames),
                        [&](const char* n) { return *linear == n; }) != std::end(kLinearNames);
}

// New result whose row i is row order[i] of q (the HF q/k row permutation).
QuantResult permute_rows(const QuantResult& q, const std::vector<int64_t>& order) {
    QuantResult r = q;
    for (int64_t i = 0; i < q.rows; ++i) {
        const int64_t src = order[static_cast<size_t>(i)];
        std::copy(q.codes.begin() + src * q.cols, q.codes.begin() + (src + 1) * q.cols, r.codes.begin() + i * q.cols);
        std::copy(q.scales.begin() + src * q.groups, q.scales.begin() + (src + 1) * q.groups,
                  r.scales.begin() + i * q.groups);
        std::copy(q.zeros.begin() + src * q.groups, q.zeros.begin() + (src + 1) * q.groups,
                  r.zeros.begin() + i * q.groups);
        if (!q.row_bits.empty()) r.row_bits[static_cast<size_t>(i)] = q.row_bits[static_cast<size_t>(src)];
    }
    return r;
}

}  // namespace

int64_t packed_words(int64_t count, int bits) { return (count * bits + 31) / 32; }

void pack_bits(const uint32_t* values, int64_t count, int bits, uint32_t* words, int64_t word_stride) {
    check_stream(bits, count, "pack_bits");
    const uint64_t limit = uint64_t{1} << bits;
    uint64_t acc = 0;  // bits not yet flushed, LSB first
    int filled = 0;
    int64_t w = 0;
    for (int64_t k = 0; k < count; ++k) {
        require_arg(values[k] < limit, "pack_bits: value " + std::to_string(values[k]) + " does not fit in " +
                                           std::to_string(bits) + " bits");
        acc |= static_cast<uint64_t>(values[k]) << filled;
        filled += bits;
        if (filled >= 32) {
            words[w++ * word_stride] = static_cast<uint32_t>(acc);
            acc >>= 32;
            filled -= 32;
        }
    }
    if (filled > 0) words[w * word_stride] = static_cast<uint32_t>(acc);
}

void unpack_bits(const uint32_t* words, int64_t word_stride, int64_t count, int bits, uint32_t* values) {
    check_stream(bits, count, "unpack_bits");
    const uint64_t mask = (uint64_t{1} << bits) - 1;
    uint64_t acc = 0;
    int filled = 0;
    int64_t w = 0;
    for (int64_t k = 0; k < count; ++k) {
        if (filled < bits) {
            acc |= static_cast<uint64_t>(words[w++ * word_stride]) << filled;
            filled += 32;
        }
        values[k] = static_cast<uint32_t>(acc & mask);
        acc >>= bits;
        filled -= bits;
    }
}

std::string hf_module_of(const std::string& layer_name) {
    int64_t block = 0;
    std::string linear;
    require_arg(parse_layer_name(layer_name, &block, &linear),
                "'" + layer_name + "' is not a linear layer name (layers.<block>.<wq..w3>)");
    return hf_linear_prefix(block, linear);
}

void check_packed_exportable(const ModelConfig& c, const std::string& what) {
    if (c.act_bits != 0)
        fail(SURGEON_ERR_UNSUPPORTED, what + " does not record activation quantization (" +
                                          std::to_string(c.act_bits) + "-bit activations)");
    if (c.qkv_bias || c.o_bias || c.qk_norm || c.moe.n_experts > 0)
        fail(SURGEON_ERR_UNSUPPORTED, what + " does not write attention biases, q/k norms or experts (" + c.family +
                                          " model): export the dequantized model instead");
}

void check_results_fit_model(const Model& model, const std::map<std::string, QuantResult>& quantized,
                             const std::string& what) {
    for (const auto& [name, q] : quantized) {
        int64_t block = 0;
        std::string linear_name;
        require_arg(parse_layer_name(name, &block, &linear_name) && block < model.config.n_layers,
                    what + ": '" + name + "' is not a layer of this model (layers.<block>.<wq..w3>)");
        const Matrix& w = linear(model.layers[static_cast<size_t>(block)], linear_name);
        require_shape(q.rows == w.rows && q.cols == w.cols,
                      what + ": result for '" + name + "' is " + std::to_string(q.rows) + " x " +
                          std::to_string(q.cols) + ", the layer is " + std::to_string(w.rows) + " x " +
                          std::to_string(w.cols));
    }
}

int64_t write_quantized_safetensors(const Model& model, const std::map<std::string, QuantResult>& quantized,
                                    Dtype dt, const std::string& path, const QuantLinearWriter& write_linear) {
    const ModelConfig& c = model.config;
    SafetensorsWriter w;
    w.set_metadata("format", "pt");
    int64_t dense = 0;
    w.add_float("model.embed_tokens.weight", {c.vocab_size, c.dim}, model.tok_emb.data.data(), dt);
    for (int64_t i = 0; i < c.n_layers; ++i) {
        const LayerWeights& L = model.layers[static_cast<size_t>(i)];
        const std::string p = "model.layers." + std::to_string(i) + ".";
        w.add_float(p + "input_layernorm.weight", {c.dim}, L.rms_att.data(), dt);
        w.add_float(p + "post_attention_layernorm.weight", {c.dim}, L.rms_ffn.data(), dt);
        for (const char* name : kLinearNames) {
            const std::string lin = name;
            const int64_t heads = lin == "wq" ? c.n_heads : lin == "wk" ? c.n_kv_heads : 0;
            const std::string prefix = hf_linear_prefix(i, lin);
            auto it = quantized.find("layers." + std::to_string(i) + "." + lin);
            if (it == quantized.end()) {
                const Matrix& m = linear(L, lin);
                const Matrix hf = heads ? permute_qk_to_hf(m, heads) : m;
                w.add_float(prefix + ".weight", {hf.rows, hf.cols}, hf.data.data(), dt);
                ++dense;
                continue;
            }
            const QuantResult& q = it->second;
            if (heads)
                write_linear(w, prefix, permute_rows(q, hf_qk_row_order(q.rows, heads)));
            else
                write_linear(w, prefix, q);
        }
    }
    w.add_float("model.norm.weight", {c.dim}, model.rms_final.data(), dt);
    if (!c.shared_classifier) w.add_float("lm_head.weight", {c.vocab_size, c.dim}, model.wcls.data.data(), dt);
    w.write(path);
    return dense;
}

void write_json_file(const std::string& path, const nlohmann::ordered_json& json) {
    write_file_atomically(path, json.dump(2) + "\n");
}

}  // namespace surgeon::model
