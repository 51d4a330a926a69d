#include "io/gptq_export.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "core/error.hpp"
#include "core/half.hpp"
#include "io/hf_model.hpp"
#include "io/llama2c.hpp"

namespace surgeon::model {
namespace {

namespace fs = std::filesystem;

bool packable_bits(int bits) { return bits == 2 || bits == 3 || bits == 4 || bits == 8; }

void check_layout(int bits, int64_t in, int64_t out, surgeon_status status, const std::string& what) {
    require(packable_bits(bits), status, what + ": GPTQ packing supports 2, 3, 4 or 8 bits, not " +
                                             std::to_string(bits));
    require(in > 0 && out > 0 && in % 32 == 0 && out % 32 == 0, status,
            what + ": " + std::to_string(out) + " x " + std::to_string(in) +
                " cannot be GPTQ-packed (in and out features must be multiples of 32)");
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

int64_t group_of(int64_t col, int64_t group_size) { return group_size > 0 ? col / group_size : 0; }

const Matrix& linear_of(const LayerWeights& L, const std::string& name) {
    const Matrix* const all[] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w1, &L.w2, &L.w3};
    for (size_t k = 0; k < 7; ++k)
        if (name == kLinearNames[k]) return *all[k];
    fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown linear '" + name + "'");
}

}  // namespace

const char* gptq_format_name(GptqFormat f) { return f == GptqFormat::v1 ? "gptq" : "gptq_v2"; }

GptqFormat parse_gptq_format(const std::string& name) {
    if (name == "gptq" || name == "v1") return GptqFormat::v1;
    if (name == "gptq_v2" || name == "v2") return GptqFormat::v2;
    fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown GPTQ checkpoint format '" + name + "' (gptq, gptq_v2)");
}

void pack_bits(const uint32_t* values, int64_t count, int bits, uint32_t* words, int64_t word_stride) {
    require_arg(bits >= 1 && bits <= 32 && (count * bits) % 32 == 0,
                "pack_bits: " + std::to_string(count) + " values of " + std::to_string(bits) +
                    " bits do not fill whole 32-bit words");
    const uint64_t limit = uint64_t{1} << bits;
    uint64_t acc = 0;  // bits not yet flushed, LSB first
    int filled = 0;
    int64_t w = 0;
    for (int64_t k = 0; k < count; ++k) {
        require_arg(values[k] < limit, "pack_bits: value " + std::to_string(values[k]) +
                                           " does not fit in " + std::to_string(bits) + " bits");
        acc |= static_cast<uint64_t>(values[k]) << filled;
        filled += bits;
        if (filled >= 32) {
            words[w++ * word_stride] = static_cast<uint32_t>(acc);
            acc >>= 32;
            filled -= 32;
        }
    }
}

void unpack_bits(const uint32_t* words, int64_t word_stride, int64_t count, int bits, uint32_t* values) {
    require_arg(bits >= 1 && bits <= 32 && (count * bits) % 32 == 0,
                "unpack_bits: " + std::to_string(count) + " values of " + std::to_string(bits) +
                    " bits do not fill whole 32-bit words");
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

GptqLinear pack_gptq(const QuantResult& q, GptqFormat format) {
    check_layout(q.bits, q.cols, q.rows, SURGEON_ERR_INVALID_ARGUMENT, "pack_gptq");
    const int64_t out = q.rows, in = q.cols, groups = q.groups;
    require_shape(groups >= 1 && static_cast<int64_t>(q.codes.size()) == out * in &&
                      static_cast<int64_t>(q.scales.size()) == out * groups &&
                      static_cast<int64_t>(q.zeros.size()) == out * groups &&
                      static_cast<int64_t>(q.g_idx.size()) == in,
                  "pack_gptq: codes/scales/zeros/g_idx sizes do not match " + std::to_string(out) +
                      " x " + std::to_string(in) + " with " + std::to_string(groups) + " groups");
    const int maxq = (1 << q.bits) - 1;
    for (int32_t g : q.g_idx)
        require_arg(g >= 0 && g < groups, "pack_gptq: g_idx value " + std::to_string(g) + " out of range");
    for (uint8_t c : q.codes)
        require_arg(c <= maxq, "pack_gptq: code " + std::to_string(c) + " exceeds " + std::to_string(maxq));

    GptqLinear p;
    p.bits = q.bits;
    p.in_features = in;
    p.out_features = out;
    p.groups = groups;
    p.g_idx = q.g_idx;
    p.qweight.assign(static_cast<size_t>(in * q.bits / 32 * out), 0);
    p.qzeros.assign(static_cast<size_t>(groups * (out * q.bits / 32)), 0);
    p.scales.resize(static_cast<size_t>(groups * out));

    auto* qweight = reinterpret_cast<uint32_t*>(p.qweight.data());
    std::vector<uint32_t> column(static_cast<size_t>(in));
    for (int64_t o = 0; o < out; ++o) {
        const uint8_t* codes = q.codes.data() + o * in;
        std::copy(codes, codes + in, column.begin());
        pack_bits(column.data(), in, q.bits, qweight + o, out);  // word row w, column o
    }

    std::vector<uint32_t> stored(static_cast<size_t>(out));
    auto* qzeros = reinterpret_cast<uint32_t*>(p.qzeros.data());
    for (int64_t g = 0; g < groups; ++g) {
        for (int64_t o = 0; o < out; ++o) {
            const float z = q.zeros[o * groups + g];
            require_arg(z == std::nearbyint(z) && z >= 0.0f && z <= static_cast<float>(maxq),
                        "pack_gptq: zero point " + std::to_string(z) + " (row " + std::to_string(o) +
                            ") is not an integer in [0, " + std::to_string(maxq) + "]");
            require_arg(format == GptqFormat::v2 || z >= 1.0f,
                        "pack_gptq: zero point 0 (row " + std::to_string(o) + ", group " +
                            std::to_string(g) +
                            ") cannot be stored in the v1 \"gptq\" format (it stores zero-1); "
                            "export with checkpoint format gptq_v2 or quantize symmetrically");
            stored[o] = static_cast<uint32_t>(z) - (format == GptqFormat::v1 ? 1u : 0u);
            const float s = q.scales[o * groups + g];
            const uint16_t h = float_to_f16(s);
            require_arg(std::isfinite(f16_to_float(h)),
                        "pack_gptq: scale " + std::to_string(s) + " does not fit in float16");
            p.scales[g * out + o] = h;
        }
        pack_bits(stored.data(), out, q.bits, qzeros + g * (out * q.bits / 32), 1);
    }
    return p;
}

QuantResult unpack_gptq(const GptqLinear& p, GptqFormat format) {
    check_layout(p.bits, p.in_features, p.out_features, SURGEON_ERR_INVALID_ARGUMENT, "unpack_gptq");
    const int64_t out = p.out_features, in = p.in_features, groups = p.groups;
    require_shape(groups >= 1 && static_cast<int64_t>(p.qweight.size()) == in * p.bits / 32 * out &&
                      static_cast<int64_t>(p.qzeros.size()) == groups * (out * p.bits / 32) &&
                      static_cast<int64_t>(p.scales.size()) == groups * out &&
                      static_cast<int64_t>(p.g_idx.size()) == in,
                  "unpack_gptq: packed tensor sizes do not match the layer");
    QuantResult q;
    q.rows = out;
    q.cols = in;
    q.groups = groups;
    q.bits = p.bits;
    q.codes.resize(static_cast<size_t>(out * in));
    q.scales.resize(static_cast<size_t>(out * groups));
    q.zeros.resize(static_cast<size_t>(out * groups));
    q.g_idx = p.g_idx;

    const auto* qweight = reinterpret_cast<const uint32_t*>(p.qweight.data());
    std::vector<uint32_t> column(static_cast<size_t>(in));
    for (int64_t o = 0; o < out; ++o) {
        unpack_bits(qweight + o, out, in, p.bits, column.data());
        std::copy(column.begin(), column.end(), q.codes.begin() + o * in);
    }
    std::vector<uint32_t> stored(static_cast<size_t>(out));
    const auto* qzeros = reinterpret_cast<const uint32_t*>(p.qzeros.data());
    const float offset = format == GptqFormat::v1 ? 1.0f : 0.0f;
    for (int64_t g = 0; g < groups; ++g) {
        unpack_bits(qzeros + g * (out * p.bits / 32), 1, out, p.bits, stored.data());
        for (int64_t o = 0; o < out; ++o) {
            q.zeros[o * groups + g] = static_cast<float>(stored[o]) + offset;
            q.scales[o * groups + g] = f16_to_float(p.scales[g * out + o]);
        }
    }
    q.perm.resize(static_cast<size_t>(in));
    std::iota(q.perm.begin(), q.perm.end(), 0);
    std::stable_sort(q.perm.begin(), q.perm.end(),
                     [&](int32_t a, int32_t b) { return q.g_idx[a] < q.g_idx[b]; });
    return q;
}

Matrix dequantize_gptq(const GptqLinear& p, GptqFormat format) {
    const QuantResult q = unpack_gptq(p, format);
    for (int32_t g : q.g_idx)
        require_arg(g >= 0 && g < q.groups, "dequantize_gptq: g_idx value " + std::to_string(g) + " out of range");
    Matrix w(q.rows, q.cols);
    // The loaders' formula, W[o][j] = scale[g_idx[j]][o] · (q[j][o] − zero[g_idx[j]][o]).
    for (int64_t o = 0; o < q.rows; ++o) {
        const float* scales = q.scales.data() + o * q.groups;
        const float* zeros = q.zeros.data() + o * q.groups;
        const uint8_t* codes = q.codes.data() + o * q.cols;
        float* row = w.row(o);
        for (int64_t j = 0; j < q.cols; ++j) {
            const int32_t g = q.g_idx[j];
            row[j] = scales[g] * (static_cast<float>(codes[j]) - zeros[g]);
        }
    }
    return w;
}

int64_t check_gptq_linear(const TensorStore& store, const std::string& prefix, int bits,
                          int64_t in_features, int64_t out_features) {
    check_layout(bits, in_features, out_features, SURGEON_ERR_IO,
                 store.path_of(prefix + ".qweight") + ": " + prefix);
    const TensorInfo& scales = store.info(prefix + ".scales");
    if (scales.shape.size() != 2 || scales.shape[0] < 1)
        fail(SURGEON_ERR_IO, store.path_of(prefix + ".scales") + ": GPTQ tensor '" + prefix +
                                 ".scales' must be [groups, out_features]");
    const int64_t groups = scales.shape[0];
    auto expect = [&](const std::string& part, Dtype dtype, std::vector<int64_t> shape) {
        const std::string name = prefix + part;
        const TensorInfo& t = store.info(name);
        if (t.dtype != dtype || t.shape != shape) {
            std::string want;
            for (int64_t d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
            fail(SURGEON_ERR_IO, store.path_of(name) + ": GPTQ tensor '" + name + "' is " +
                                     dtype_name(t.dtype) + " " + std::to_string(t.shape.size()) + "-d, expected " +
                                     dtype_name(dtype) + " [" + want + "]");
        }
    };
    expect(".qweight", Dtype::I32, {in_features * bits / 32, out_features});
    expect(".qzeros", Dtype::I32, {groups, out_features * bits / 32});
    expect(".scales", Dtype::F16, {groups, out_features});
    expect(".g_idx", Dtype::I32, {in_features});
    return groups;
}

GptqLinear read_gptq_linear(const TensorStore& store, const std::string& prefix, int bits,
                            int64_t in_features, int64_t out_features) {
    GptqLinear p;
    p.bits = bits;
    p.in_features = in_features;
    p.out_features = out_features;
    p.groups = check_gptq_linear(store, prefix, bits, in_features, out_features);
    p.qweight = store.read_i32(prefix + ".qweight");
    p.qzeros = store.read_i32(prefix + ".qzeros");
    p.scales = store.read_u16_bits(prefix + ".scales");
    p.g_idx = store.read_i32(prefix + ".g_idx");
    for (int32_t g : p.g_idx)
        if (g < 0 || g >= p.groups)
            fail(SURGEON_ERR_IO, store.path_of(prefix + ".g_idx") + ": GPTQ tensor '" + prefix +
                                     ".g_idx' holds group " + std::to_string(g) + " outside [0, " +
                                     std::to_string(p.groups) + ")");
    return p;
}

void add_gptq_linear(SafetensorsWriter& writer, const std::string& prefix, const GptqLinear& p) {
    writer.add_i32(prefix + ".qweight", {p.in_features * p.bits / 32, p.out_features}, p.qweight.data());
    writer.add_i32(prefix + ".qzeros", {p.groups, p.out_features * p.bits / 32}, p.qzeros.data());
    writer.add_u16_bits(prefix + ".scales", {p.groups, p.out_features}, p.scales.data(), Dtype::F16);
    writer.add_i32(prefix + ".g_idx", {p.in_features}, p.g_idx.data());
}

QuantResult permute_quant_rows(const QuantResult& q, const std::vector<int64_t>& order) {
    require_shape(static_cast<int64_t>(order.size()) == q.rows, "permute_quant_rows: order size");
    QuantResult r = q;
    for (int64_t i = 0; i < q.rows; ++i) {
        const int64_t src = order[static_cast<size_t>(i)];
        std::copy(q.codes.begin() + src * q.cols, q.codes.begin() + (src + 1) * q.cols,
                  r.codes.begin() + i * q.cols);
        std::copy(q.scales.begin() + src * q.groups, q.scales.begin() + (src + 1) * q.groups,
                  r.scales.begin() + i * q.groups);
        std::copy(q.zeros.begin() + src * q.groups, q.zeros.begin() + (src + 1) * q.groups,
                  r.zeros.begin() + i * q.groups);
    }
    return r;
}

GptqExportSummary write_gptq_model(const Model& model,
                                   const std::map<std::string, QuantResult>& quantized,
                                   const std::string& dir, const GptqExportOptions& options) {
    validate_shapes(model);
    const ModelConfig& c = model.config;
    // The export writes the seven linears and the norms of each block (the config keeps
    // RoPE scaling and the window); biases, q/k norms and experts are not written.
    if (c.qkv_bias || c.o_bias || c.qk_norm || c.moe.n_experts > 0)
        fail(SURGEON_ERR_UNSUPPORTED, "the packed GPTQ export does not write attention biases, q/k norms or "
                                      "experts (" + c.family + " model): export the dequantized model instead");
    GptqExportSummary s;

    // Every result must name a layer of this model and match its shape.
    for (const auto& [name, q] : quantized) {
        int64_t block = 0;
        std::string linear_name;
        require_arg(parse_layer_name(name, &block, &linear_name) && block < c.n_layers,
                    "GPTQ export: '" + name + "' is not a layer of this model (layers.<block>.<wq..w3>)");
        const Matrix& w = linear_of(model.layers[static_cast<size_t>(block)], linear_name);
        require_shape(q.rows == w.rows && q.cols == w.cols,
                      "GPTQ export: result for '" + name + "' is " + std::to_string(q.rows) + " x " +
                          std::to_string(q.cols) + ", the layer is " + std::to_string(w.rows) + " x " +
                          std::to_string(w.cols));
        check_layout(q.bits, q.cols, q.rows, SURGEON_ERR_INVALID_ARGUMENT, "GPTQ export of '" + name + "'");
        for (int64_t r = 0; r < q.rows; ++r)
            require_arg(q.bits_of_row(r) == q.bits,
                        "GPTQ export of '" + name + "': mixed per-row bit widths (row " + std::to_string(r) +
                            " has " + std::to_string(q.bits_of_row(r)) + " bits) cannot be packed in the GPTQ "
                            "format, which has one width per layer");
        if (s.bits == 0) s.bits = q.bits;
        require_arg(q.bits == s.bits, "GPTQ export: all layers must share one bit width (" +
                                          std::to_string(s.bits) + " vs " + std::to_string(q.bits) + ")");
    }
    require_arg(!quantized.empty(), "GPTQ export: no quantized layers");

    // One group size for the checkpoint: given, or read off the results (the size of group 0
    // wherever a layer has several groups).
    int64_t gs = options.group_size.value_or(-1);
    if (!options.group_size) {
        for (const auto& [name, q] : quantized) {
            if (q.groups <= 1) continue;
            const int64_t first = std::count(q.g_idx.begin(), q.g_idx.end(), 0);
            require_arg(gs < 0 || gs == first, "GPTQ export: layers use different group sizes (" +
                                                   std::to_string(gs) + " vs " + std::to_string(first) + ")");
            gs = first;
        }
    }
    require_arg(gs == -1 || gs > 0, "GPTQ export: group_size must be -1 or positive");
    bool all_sym = true, trivial_g_idx = true;
    const float sym_zero = static_cast<float>(1 << (s.bits - 1));
    for (const auto& [name, q] : quantized) {
        const int64_t want = gs > 0 ? (q.cols + gs - 1) / gs : 1;
        require_arg(q.groups == want, "GPTQ export: '" + name + "' has " + std::to_string(q.groups) +
                                          " groups, group_size " + std::to_string(gs) + " implies " +
                                          std::to_string(want));
        std::vector<int64_t> members(static_cast<size_t>(q.groups), 0);
        for (int64_t j = 0; j < q.cols; ++j) {
            const int32_t g = q.g_idx[static_cast<size_t>(j)];
            require_arg(g >= 0 && g < q.groups, "GPTQ export: '" + name + "' has g_idx out of range");
            ++members[static_cast<size_t>(g)];
            trivial_g_idx = trivial_g_idx && g == group_of(j, gs);
        }
        for (int64_t m : members)
            require_arg(gs < 0 || m <= gs, "GPTQ export: '" + name + "' has a group larger than group_size");
        for (float z : q.zeros) all_sym = all_sym && z == sym_zero;
    }
    s.group_size = gs;
    s.sym = options.sym.value_or(all_sym);
    require_arg(!s.sym || all_sym, "GPTQ export: sym requested but some zero points differ from " +
                                       std::to_string(static_cast<int>(sym_zero)));
    s.desc_act = options.desc_act.value_or(!trivial_g_idx);
    require_arg(s.desc_act || trivial_g_idx,
                "GPTQ export: desc_act=false but g_idx is not j / group_size (act-order results)");

    SafetensorsWriter w;
    w.set_metadata("format", "pt");
    const Dtype dt = options.dense_dtype;
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
                const Matrix& m = linear_of(L, lin);
                const Matrix hf = heads ? permute_qk_to_hf(m, heads) : m;
                w.add_float(prefix + ".weight", {hf.rows, hf.cols}, hf.data.data(), dt);
                ++s.dense_layers;
                continue;
            }
            const QuantResult& q = it->second;
            const GptqLinear packed = heads ? pack_gptq(permute_quant_rows(q, hf_qk_row_order(q.rows, heads)), options.format)
                                            : pack_gptq(q, options.format);
            add_gptq_linear(w, prefix, packed);
            ++s.quantized_layers;
        }
    }
    w.add_float("model.norm.weight", {c.dim}, model.rms_final.data(), dt);
    if (!c.shared_classifier) w.add_float("lm_head.weight", {c.vocab_size, c.dim}, model.wcls.data.data(), dt);

    nlohmann::ordered_json qc;
    qc["bits"] = s.bits;
    qc["group_size"] = s.group_size;
    qc["damp_percent"] = options.damp_percent;
    qc["desc_act"] = s.desc_act;
    qc["static_groups"] = options.static_groups;
    qc["sym"] = s.sym;
    qc["true_sequential"] = options.true_sequential;
    qc["model_name_or_path"] = nullptr;
    qc["model_file_base_name"] = "model";
    qc["quant_method"] = "gptq";
    qc["checkpoint_format"] = gptq_format_name(options.format);
    nlohmann::ordered_json config = hf_config(model, dt);
    config["quantization_config"] = qc;

    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) fail(SURGEON_ERR_IO, "cannot create directory '" + dir + "': " + ec.message());
    w.write((fs::path(dir) / "model.safetensors").string());
    for (const auto& [file, json] : {std::pair<const char*, const nlohmann::ordered_json&>{"config.json", config},
                                     {"quantize_config.json", qc}}) {
        std::ofstream f(fs::path(dir) / file);
        f << json.dump(2) << "\n";
        f.close();
        if (!f) fail(SURGEON_ERR_IO, "cannot write '" + (fs::path(dir) / file).string() + "'");
    }
    return s;
}

namespace {
// An optional string key of a quantization config; another type is a malformed file.
std::string qc_string(const nlohmann::json& qc, const char* key, const char* fallback, const std::string& where) {
    if (!qc.contains(key) || qc[key].is_null()) return fallback;
    if (!qc[key].is_string()) fail(SURGEON_ERR_IO, where + ": \"" + key + "\" must be a string, got " + qc[key].dump());
    return qc[key].get<std::string>();
}
}  // namespace

bool read_gptq_info(const std::string& dir, const nlohmann::json& config, GptqCheckpointInfo* info) {
    nlohmann::json qc;
    const std::string where = dir + ": quantization config";
    if (config.is_object() && config.contains("quantization_config") && config["quantization_config"].is_object()) {
        qc = config["quantization_config"];
        const std::string method = qc_string(qc, "quant_method", "gptq", where);
        if (method != "gptq")
            fail(SURGEON_ERR_UNSUPPORTED, dir + ": quant_method '" + method + "' is not supported (gptq only)");
    } else {
        std::error_code ec;
        const fs::path path = fs::path(dir) / "quantize_config.json";
        if (!fs::exists(path, ec)) return false;
        if (fs::is_directory(path, ec)) fail(SURGEON_ERR_IO, path.string() + " is a directory");
        std::ifstream f(path);
        try {
            qc = nlohmann::json::parse(f);
        } catch (const nlohmann::json::exception& e) {
            fail(SURGEON_ERR_IO, path.string() + ": invalid JSON: " + e.what());
        }
        if (!qc.is_object()) fail(SURGEON_ERR_IO, path.string() + ": not a JSON object");
    }
    // Read as int64 so a huge value cannot truncate into a valid width.
    if (!qc.contains("bits") || !qc["bits"].is_number_integer() || qc["bits"].get<int64_t>() < 2 ||
        qc["bits"].get<int64_t>() > 8 || !packable_bits(static_cast<int>(qc["bits"].get<int64_t>())))
        fail(SURGEON_ERR_IO, where + ": \"bits\" must be 2, 3, 4 or 8");
    info->bits = static_cast<int>(qc["bits"].get<int64_t>());
    if (qc.contains("group_size") && qc["group_size"].is_number_integer())
        info->group_size = qc["group_size"].get<int64_t>();
    const std::string format = qc_string(qc, "checkpoint_format", "gptq", where);
    if (format != "gptq" && format != "gptq_v2")
        fail(SURGEON_ERR_UNSUPPORTED, where + ": checkpoint_format '" + format + "' is not supported (gptq, gptq_v2)");
    info->format = parse_gptq_format(format);
    return true;
}

}  // namespace surgeon::model
