#include "io/ct_export.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "io/hf_model.hpp"

namespace surgeon::model {
namespace {

namespace fs = std::filesystem;

// The blocks' linears that vLLM fuses into one layer (qkv_proj, gate_up_proj).
const std::vector<std::vector<std::string>> kFusedSets = {{"wq", "wk", "wv"}, {"w1", "w3"}};

nlohmann::ordered_json scheme_json(const CtScheme& s, const nlohmann::ordered_json& targets) {
    nlohmann::ordered_json weights;
    weights["num_bits"] = s.bits;
    weights["type"] = "int";
    weights["symmetric"] = s.sym;
    weights["group_size"] = s.group_size > 0 ? nlohmann::ordered_json(s.group_size) : nlohmann::ordered_json(nullptr);
    weights["strategy"] = s.group_size > 0 ? "group" : "channel";
    weights["block_structure"] = nullptr;
    weights["dynamic"] = false;
    weights["actorder"] = s.actorder.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s.actorder);
    weights["observer"] = s.observer;
    weights["observer_kwargs"] = nlohmann::ordered_json::object();
    nlohmann::ordered_json j;
    j["targets"] = targets;
    j["weights"] = weights;
    j["input_activations"] = nullptr;
    j["output_activations"] = nullptr;
    j["format"] = "pack-quantized";
    return j;
}

std::string scheme_text(const CtScheme& s) {
    return std::to_string(s.bits) + "-bit " + (s.sym ? "sym" : "asym") + " group " + std::to_string(s.group_size) +
           (s.actorder.empty() ? "" : " actorder " + s.actorder);
}

}  // namespace

CtScheme infer_ct_scheme(const QuantResult& q) {
    CtScheme s;
    s.bits = q.bits;
    s.group_size = q.groups > 1 ? std::count(q.g_idx.begin(), q.g_idx.end(), 0) : -1;
    const float sym_zero = static_cast<float>(1 << (q.bits - 1));
    s.sym = std::all_of(q.zeros.begin(), q.zeros.end(), [&](float z) { return z == sym_zero; });
    for (int64_t j = 0; j < q.cols; ++j)
        if (q.g_idx[static_cast<size_t>(j)] != (s.group_size > 0 ? j / s.group_size : 0)) s.actorder = "group";
    return s;
}

CtLinear pack_ct(const QuantResult& q, const CtScheme& scheme) {
    const std::string what = "compressed-tensors packing";
    require_arg(q.bits >= 1 && q.bits <= 8 && q.bits == scheme.bits,
                what + ": the result has " + std::to_string(q.bits) + " bits, the scheme " +
                    std::to_string(scheme.bits) + " (pack-quantized holds 1 to 8)");
    const int64_t out = q.rows, in = q.cols;
    const int64_t groups = scheme.group_size > 0 ? in / scheme.group_size : 1;
    require_arg(scheme.group_size <= 0 || in % scheme.group_size == 0,
                what + ": group size " + std::to_string(scheme.group_size) + " does not divide " +
                    std::to_string(in) + " input features");
    require_shape(out > 0 && in > 0 && q.groups == groups && static_cast<int64_t>(q.codes.size()) == out * in &&
                      static_cast<int64_t>(q.scales.size()) == out * groups &&
                      static_cast<int64_t>(q.zeros.size()) == out * groups &&
                      static_cast<int64_t>(q.g_idx.size()) == in,
                  what + ": the result (" + std::to_string(out) + " x " + std::to_string(in) + ", " +
                      std::to_string(q.groups) + " groups) does not fit " + scheme_text(scheme));
    for (int64_t r = 0; r < out; ++r)
        require_arg(q.bits_of_row(r) == q.bits, what + ": per-row bit widths cannot be packed");
    for (int64_t j = 0; j < in; ++j) {
        const int32_t g = q.g_idx[static_cast<size_t>(j)];
        require_arg(g >= 0 && g < groups, what + ": g_idx value " + std::to_string(g) + " out of range");
        require_arg(scheme.actorder == "group" || g == (scheme.group_size > 0 ? j / scheme.group_size : 0),
                    what + ": act-order groups (g_idx not j / group_size) need actorder \"group\"");
    }
    const uint32_t maxq = (1u << q.bits) - 1;
    const float sym_zero = static_cast<float>(1 << (q.bits - 1));
    CtLinear p;
    p.bits = q.bits;
    p.rows = out;
    p.cols = in;
    p.groups = groups;
    const int64_t row_words = packed_words(in, q.bits);
    p.weight_packed.assign(static_cast<size_t>(out * row_words), 0);
    std::vector<uint32_t> row(static_cast<size_t>(in));
    for (int64_t o = 0; o < out; ++o) {
        const uint8_t* codes = q.codes.data() + o * in;
        std::copy(codes, codes + in, row.begin());
        pack_bits(row.data(), in, q.bits, reinterpret_cast<uint32_t*>(p.weight_packed.data()) + o * row_words, 1);
    }
    p.weight_scale = q.scales;
    for (float s : p.weight_scale) require_arg(std::isfinite(s), what + ": non-finite scale");
    if (!scheme.sym) {
        p.weight_zero_point.assign(static_cast<size_t>(packed_words(out, q.bits) * groups), 0);
        std::vector<uint32_t> column(static_cast<size_t>(out));
        for (int64_t g = 0; g < groups; ++g) {
            for (int64_t o = 0; o < out; ++o) {
                const float z = q.zeros[static_cast<size_t>(o * groups + g)];
                require_arg(z == std::nearbyint(z) && z >= 0.0f && z <= static_cast<float>(maxq),
                            what + ": zero point " + std::to_string(z) + " is not an integer in [0, " +
                                std::to_string(maxq) + "]");
                column[static_cast<size_t>(o)] = static_cast<uint32_t>(z);
            }
            pack_bits(column.data(), out, q.bits, reinterpret_cast<uint32_t*>(p.weight_zero_point.data()) + g, groups);
        }
    } else {
        for (float z : q.zeros)
            require_arg(z == sym_zero, what + ": a symmetric scheme needs every zero point at " +
                                           std::to_string(static_cast<int>(sym_zero)) + ", got " + std::to_string(z));
    }
    if (scheme.actorder == "group") p.weight_g_idx = q.g_idx;
    return p;
}

void add_ct_linear(SafetensorsWriter& writer, const std::string& prefix, const CtLinear& p, Dtype scale_dtype) {
    writer.add_i32(prefix + ".weight_packed", {p.rows, packed_words(p.cols, p.bits)}, p.weight_packed.data());
    writer.add_float(prefix + ".weight_scale", {p.rows, p.groups}, p.weight_scale.data(), scale_dtype);
    const int32_t shape[2] = {static_cast<int32_t>(p.rows), static_cast<int32_t>(p.cols)};
    writer.add_i32(prefix + ".weight_shape", {2}, shape);
    if (!p.weight_zero_point.empty())
        writer.add_i32(prefix + ".weight_zero_point", {packed_words(p.rows, p.bits), p.groups},
                       p.weight_zero_point.data());
    if (!p.weight_g_idx.empty()) writer.add_i32(prefix + ".weight_g_idx", {p.cols}, p.weight_g_idx.data());
}

CtExportOptions plan_ct_export(const std::vector<LinearExportPlan>& plans, Dtype dtype) {
    CtExportOptions o;
    o.dtype = dtype;
    std::map<std::string, const LinearExportPlan*> by_name;
    for (const LinearExportPlan& p : plans) {
        by_name[p.name] = &p;
        if (!p.quantized) continue;
        const std::string what = "compressed-tensors export: '" + p.name + "'";
        require_arg(!p.mixed, what + " has per-row bit widths (mixed precision); a compressed-tensors scheme "
                                    "holds one width per layer (save --out instead)");
        require_arg(p.bits >= 1 && p.bits <= 8, what + ": pack-quantized holds 1 to 8 bits, not " +
                                                    std::to_string(p.bits));
        CtScheme s;
        s.bits = p.bits;
        s.group_size = p.group_size > 0 ? p.group_size : -1;
        require_arg(s.group_size < 0 || p.cols % s.group_size == 0,
                    what + ": group size " + std::to_string(s.group_size) + " does not divide its " +
                        std::to_string(p.cols) + " input features (vLLM needs in_features % group_size == 0)");
        s.sym = p.sym;
        // Act-order is recorded only with groups (compressed-tensors allows it with the
        // "group" strategy alone); with static groups the groups keep their column order.
        if (p.act_order && s.group_size > 0) s.actorder = p.static_groups ? "weight" : "group";
        s.observer = p.mse ? "mse" : "minmax";
        o.schemes[p.name] = s;
    }
    require_arg(!o.schemes.empty(),
                "compressed-tensors export: no layer is quantized (use a quantizing method: gptq, rtn or --bits)");
    // vLLM loads q/k/v and gate/up as one fused layer with one scheme.
    for (const auto& [name, plan] : by_name) {
        const size_t dot = name.rfind('.');
        const std::string block = name.substr(0, dot + 1), lin = name.substr(dot + 1);
        for (const auto& set : kFusedSets) {
            if (lin != set[0]) continue;
            for (size_t k = 1; k < set.size(); ++k) {
                const std::string other = block + set[k];
                if (!by_name.count(other)) continue;
                const auto a = o.schemes.find(name), b = o.schemes.find(other);
                const bool same = (a == o.schemes.end()) == (b == o.schemes.end()) &&
                                  (a == o.schemes.end() || a->second == b->second);
                require_arg(same, "compressed-tensors export: '" + name + "' and '" + other +
                                      "' are quantized differently, but vLLM fuses them into one layer with one "
                                      "scheme (give them the same method and options)");
            }
        }
    }
    return o;
}

CtExportSummary write_ct_model(const Model& model, const std::map<std::string, QuantResult>& quantized,
                               const std::string& dir, const CtExportOptions& options) {
    validate_shapes(model);
    check_packed_exportable(model.config, "the compressed-tensors export");
    check_results_fit_model(model, quantized, "compressed-tensors export");
    require_arg(!quantized.empty(), "compressed-tensors export: no quantized layers");
    // Each result's scheme, and the config groups in layer order of first use.
    std::map<std::string, CtScheme> schemes;
    std::vector<CtScheme> distinct;
    std::vector<nlohmann::ordered_json> targets;
    for (int64_t b = 0; b < model.config.n_layers; ++b)
        for (const char* lin : kLinearNames) {
            const std::string name = "layers." + std::to_string(b) + "." + lin;
            const auto it = quantized.find(name);
            if (it == quantized.end()) continue;
            const auto given = options.schemes.find(name);
            const CtScheme s = given != options.schemes.end() ? given->second : infer_ct_scheme(it->second);
            (void)pack_ct(it->second, s);  // refuses a result that does not fit before anything is written
            schemes[name] = s;
            const size_t k = static_cast<size_t>(std::find(distinct.begin(), distinct.end(), s) - distinct.begin());
            if (k == distinct.size()) {
                distinct.push_back(s);
                targets.push_back(nlohmann::ordered_json::array());
            }
            targets[k].push_back(hf_module_of(name));
        }
    nlohmann::ordered_json groups = nlohmann::ordered_json::object();
    for (size_t k = 0; k < distinct.size(); ++k)
        groups["group_" + std::to_string(k)] =
            scheme_json(distinct[k], distinct.size() == 1 ? nlohmann::ordered_json::array({"Linear"}) : targets[k]);
    nlohmann::ordered_json ignore = nlohmann::ordered_json::array();
    for (int64_t b = 0; b < model.config.n_layers; ++b)
        for (const char* lin : kLinearNames) {
            const std::string name = "layers." + std::to_string(b) + "." + lin;
            if (!quantized.count(name)) ignore.push_back(hf_module_of(name));
        }
    ignore.push_back("lm_head");

    nlohmann::ordered_json qc;
    qc["config_groups"] = groups;
    qc["format"] = "pack-quantized";
    qc["global_compression_ratio"] = nullptr;
    qc["ignore"] = ignore;
    qc["kv_cache_scheme"] = nullptr;
    qc["quant_method"] = "compressed-tensors";
    qc["quantization_status"] = "compressed";
    nlohmann::ordered_json config = hf_config(model, options.dtype);
    config["quantization_config"] = qc;

    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) fail(SURGEON_ERR_IO, "cannot create directory '" + dir + "': " + ec.message());
    CtExportSummary s;
    s.quantized_layers = static_cast<int64_t>(quantized.size());
    s.config_groups = static_cast<int64_t>(distinct.size());
    // Results arrive in HF row order (q/k permuted); find each one's scheme by its prefix.
    std::map<std::string, std::string> name_of_prefix;
    for (const auto& entry : schemes) name_of_prefix[hf_module_of(entry.first)] = entry.first;
    s.dense_layers = write_quantized_safetensors(
        model, quantized, options.dtype, (fs::path(dir) / "model.safetensors").string(),
        [&](SafetensorsWriter& w, const std::string& prefix, const QuantResult& q) {
            add_ct_linear(w, prefix, pack_ct(q, schemes.at(name_of_prefix.at(prefix))), options.dtype);
        });
    write_json_file((fs::path(dir) / "config.json").string(), config);
    return s;
}

}  // namespace surgeon::model
