#include "io/gptq_export.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include "core/error.hpp"
#include "core/half.hpp"
#include "core/output_file.hpp"
#include "io/hf_model.hpp"
#include "io/llama2c.hpp"
#include "surgeon/surgeon.h"

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

int64_t group_of(int64_t col, int64_t group_size) { return group_size > 0 ? col / group_size : 0; }

}  // namespace

const char* gptq_format_name(GptqFormat f) { return f == GptqFormat::v1 ? "gptq" : "gptq_v2"; }

GptqFormat parse_gptq_format(const std::string& name) {
    if (name == "gptq" || name == "v1") return GptqFormat::v1;
    if (name == "gptq_v2" || name == "v2") return GptqFormat::v2;
    fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown GPTQ checkpoint format '" + name + "' (gptq, gptq_v2)");
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
                            "use --gptq-format v2 (checkpoint format gptq_v2) or quantize symmetrically");
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

namespace {

// The true-sequential groups of a block in HF order (optimum quantizes each list in turn).
const std::vector<std::vector<std::string>> kSequentialGroups = {{"wq", "wk", "wv"}, {"wo"}, {"w1", "w3"}, {"w2"}};

// "model.layers.3.mlp.down_proj" -> "mlp.down_proj".
std::string block_suffix(const std::string& module) {
    const size_t dot = module.find('.', std::string("model.layers.").size());
    return module.substr(dot + 1);
}

// A regular expression matching exactly `module` (dots escaped).
std::string exact_regex(const std::string& module) {
    std::string r = "^";
    for (char ch : module) {
        if (ch == '.') r += '\\';
        r += ch;
    }
    return r + "$";
}

// Declares the linears left dense inside the blocks: "modules_in_block_to_quantize" (optimum,
// transformers: the quantized modules; names are matched by suffix, so the block-relative
// names serve when every block quantizes the same linears, the full names otherwise) and
// GPTQModel's "dynamic" negative rules. Nothing is added when every linear is quantized.
void declare_dense_linears(const Model& model, const std::map<std::string, QuantResult>& quantized,
                           nlohmann::ordered_json* qc) {
    const int64_t blocks = model.config.n_layers;
    auto is_quantized = [&](int64_t b, const std::string& lin) {
        return quantized.count("layers." + std::to_string(b) + "." + lin) > 0;
    };
    nlohmann::ordered_json dynamic = nlohmann::ordered_json::object();
    bool uniform = true;
    for (int64_t b = 0; b < blocks; ++b)
        for (const char* lin : kLinearNames) {
            if (!is_quantized(b, lin)) dynamic["-:" + exact_regex(hf_linear_prefix(b, lin))] = nlohmann::json::object();
            uniform = uniform && is_quantized(b, lin) == is_quantized(0, lin);
        }
    if (dynamic.empty()) return;
    nlohmann::ordered_json modules = nlohmann::ordered_json::array();
    for (const auto& group : kSequentialGroups) {
        nlohmann::ordered_json names = nlohmann::ordered_json::array();
        for (int64_t b = 0; b < (uniform ? 1 : blocks); ++b)
            for (const std::string& lin : group)
                if (is_quantized(b, lin)) {
                    const std::string module = hf_linear_prefix(b, lin);
                    names.push_back(uniform ? block_suffix(module) : module);
                }
        if (!names.empty()) modules.push_back(names);
    }
    (*qc)["modules_in_block_to_quantize"] = modules;
    (*qc)["dynamic"] = dynamic;
}

std::string damp_text(double d) {
    std::ostringstream s;
    s << d;
    return s.str();
}

}  // namespace

GptqExportOptions plan_gptq_export(const std::vector<LinearExportPlan>& plans, std::optional<GptqFormat> format,
                                   Dtype dense_dtype) {
    GptqExportOptions o;
    o.dense_dtype = dense_dtype;
    const LinearExportPlan* first = nullptr;       // the first quantized linear
    const LinearExportPlan* first_solved = nullptr;  // the first GPTQ-solved one
    bool all_sym = true, act_order = false;
    for (const LinearExportPlan& p : plans) {
        if (!p.quantized) continue;
        const std::string what = "GPTQ export: '" + p.name + "'";
        require_arg(!p.mixed, what + " has per-row bit widths (mixed precision); a GPTQ checkpoint holds one "
                                    "width per layer (save --out instead)");
        check_layout(p.bits, p.cols, p.rows, SURGEON_ERR_INVALID_ARGUMENT, what);
        const int64_t group = p.group_size > 0 ? p.group_size : -1;
        require_arg(group < 0 || p.cols % group == 0,
                    what + ": group size " + std::to_string(group) + " does not divide its " + std::to_string(p.cols) +
                        " input features (AutoGPTQ and exllama need in_features % group_size == 0)");
        if (!first) first = &p;
        require_arg(p.bits == first->bits, "GPTQ export: all layers must share one bit width ('" + first->name +
                                               "' has " + std::to_string(first->bits) + ", '" + p.name + "' " +
                                               std::to_string(p.bits) + ")");
        const int64_t first_group = first->group_size > 0 ? first->group_size : -1;
        require_arg(group == first_group, "GPTQ export: all layers must share one group size ('" + first->name +
                                              "' has " + std::to_string(first_group) + ", '" + p.name + "' " +
                                              std::to_string(group) + ")");
        all_sym = all_sym && p.sym;
        act_order = act_order || p.act_order;
        if (!p.solver) continue;
        if (!first_solved) first_solved = &p;
        require_arg(p.damp == first_solved->damp,
                    "GPTQ export: damp_percent is one value for the checkpoint, but '" + first_solved->name +
                        "' uses " + damp_text(first_solved->damp) + " and '" + p.name + "' " + damp_text(p.damp));
        require_arg(p.static_groups == first_solved->static_groups,
                    "GPTQ export: static_groups is one value for the checkpoint, but '" + first_solved->name +
                        "' and '" + p.name + "' differ");
    }
    require_arg(first != nullptr, "GPTQ export: no layer is quantized (use a quantizing method: gptq, rtn or --bits)");
    const LinearExportPlan& ref = first_solved ? *first_solved : *first;
    require_arg(ref.damp > 0.0 && ref.damp < 1.0,
                "GPTQ export: damp " + damp_text(ref.damp) +
                    " cannot be declared: AutoGPTQ and optimum refuse a damp_percent outside (0, 1)");
    o.group_size = first->group_size > 0 ? first->group_size : -1;
    o.sym = all_sym;
    o.desc_act = act_order;
    o.static_groups = first_solved && first_solved->static_groups;
    o.damp_percent = ref.damp;
    o.format = format.value_or(all_sym ? GptqFormat::v1 : GptqFormat::v2);
    return o;
}

GptqExportSummary write_gptq_model(const Model& model,
                                   const std::map<std::string, QuantResult>& quantized,
                                   const std::string& dir, const GptqExportOptions& options) {
    validate_shapes(model);
    check_packed_exportable(model.config, "the packed GPTQ export");
    GptqExportSummary s;
    check_results_fit_model(model, quantized, "GPTQ export");
    for (const auto& [name, q] : quantized) {
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
        require_arg(gs < 0 || q.cols % gs == 0,
                    "GPTQ export: group size " + std::to_string(gs) + " does not divide the " + std::to_string(q.cols) +
                        " input features of '" + name + "' (AutoGPTQ and exllama need in_features % group_size == 0)");
        const int64_t want = gs > 0 ? q.cols / gs : 1;
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
    s.format = options.format.value_or(s.sym ? GptqFormat::v1 : GptqFormat::v2);
    require_arg(options.damp_percent > 0.0 && options.damp_percent < 1.0,
                "GPTQ export: damp_percent " + damp_text(options.damp_percent) +
                    " is outside (0, 1), which AutoGPTQ and optimum refuse");
    // Every result packs (zero points, fp16 scales) before anything is written, so a refused
    // one leaves no directory behind.
    for (const auto& entry : quantized) (void)pack_gptq(entry.second, s.format);

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
    qc["checkpoint_format"] = gptq_format_name(s.format);
    qc["meta"] = {{"quantizer", {std::string("surgeon:") + std::to_string(SURGEON_VERSION_MAJOR) + "." +
                                 std::to_string(SURGEON_VERSION_MINOR) + "." +
                                 std::to_string(SURGEON_VERSION_PATCH)}}};
    declare_dense_linears(model, quantized, &qc);
    nlohmann::ordered_json config = hf_config(model, options.dense_dtype);
    config["quantization_config"] = qc;

    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) fail(SURGEON_ERR_IO, "cannot create directory '" + dir + "': " + ec.message());
    s.quantized_layers = static_cast<int64_t>(quantized.size());
    s.dense_layers = write_quantized_safetensors(
        model, quantized, options.dense_dtype, (fs::path(dir) / "model.safetensors").string(),
        [&](SafetensorsWriter& w, const std::string& prefix, const QuantResult& q) {
            add_gptq_linear(w, prefix, pack_gptq(q, s.format));
        });
    write_json_file((fs::path(dir) / "config.json").string(), config);
    write_json_file((fs::path(dir) / "quantize_config.json").string(), qc);
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
