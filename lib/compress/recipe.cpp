#include "compress/recipe.hpp"

#include <fnmatch.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "compress/cbq.hpp"
#include "compress/mixed_json.hpp"
#include "core/error.hpp"
#include "core/names.hpp"
#include "layer/prune/mask.hpp"

namespace surgeon::model {

namespace {

// "none" reads as dense too.
constexpr EnumName<Method> kMethods[] = {{Method::dense, "dense"},         {Method::sparsegpt, "sparsegpt"},
                                         {Method::gptq, "gptq"},           {Method::wanda, "wanda"},
                                         {Method::magnitude, "magnitude"}, {Method::rtn, "rtn"},
                                         {Method::cbq, "cbq"},
                                         {Method::dense, "none"}};

// A JSON number that is exactly an integer in [lo, hi] (4 and 4.0, not 4.9, 1e30 or a
// value that would wrap in the target type).
int64_t integer_value(const nlohmann::json& value, const std::string& key, int64_t lo, int64_t hi) {
    const std::string bad = "recipe \"" + key + "\" must be an integer in [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "], got " + value.dump();
    if (value.is_number_unsigned()) {
        const uint64_t v = value.get<uint64_t>();
        require_arg(v <= static_cast<uint64_t>(hi) && static_cast<int64_t>(v) >= lo, bad);
        return static_cast<int64_t>(v);
    }
    if (value.is_number_integer()) {
        const int64_t v = value.get<int64_t>();
        require_arg(v >= lo && v <= hi, bad);
        return v;
    }
    require_arg(value.is_number_float(), bad);
    const double v = value.get<double>();
    // Range first, in doubles, and below 2^63: the cast below is then exact.
    require_arg(std::isfinite(v) && v == std::floor(v) && v >= static_cast<double>(lo) &&
                    v <= static_cast<double>(hi) && v < 9223372036854775808.0,
                bad);
    return static_cast<int64_t>(v);
}

}  // namespace

Method parse_method(const std::string& name) { return parse_enum(kMethods, name, "method"); }
const char* method_name(Method m) { return enum_name(kMethods, m); }

bool LayerPlan::is_mixed() const {
    return mixed && quantize &&
           (method == Method::gptq || method == Method::rtn || method == Method::sparsegpt);
}

bool LayerPlan::needs_calibration() const {
    // Mixed RTN still allocates its bits from the Hessian.
    return method == Method::sparsegpt || method == Method::gptq || method == Method::wanda || method == Method::cbq ||
           (method == Method::rtn && is_mixed());
}

void LayerPlan::apply(const nlohmann::json& spec) {
    require_arg(spec.is_object(), "a recipe entry must be a JSON object");
    // Keys apply in name order and each of the two replaces the other: both at once has no
    // meaning.
    require_arg(!(spec.contains("sparsity") && spec.contains("nm")),
                "a recipe entry gives both \"sparsity\" and \"nm\": choose one");
    for (const auto& [key, value] : spec.items()) {
        if (key == "match") continue;
        if (key == "method") {
            method = parse_method(value.get<std::string>());
            quantize = method == Method::gptq || method == Method::rtn || method == Method::cbq ||
                       (quantize && method == Method::sparsegpt);
        } else if (key == "skip") {
            skip = value.get<bool>();
        } else if (key == "sparsity") {
            sparsity = value.get<double>();
            n = m = 0;  // unstructured replaces an inherited n:m
        } else if (key == "nm") {
            const std::string s = value.get<std::string>();
            const auto nm = parse_nm(s);
            require_arg(nm.has_value(),
                        "recipe \"nm\" must be N:M with integers 0 < N < M <= 256 (e.g. \"2:4\"), got '" + s + "'");
            n = nm->first;
            m = nm->second;
            sparsity = 0.0;
        } else if (key == "bits") {
            if (value.is_null()) {
                quantize = false;
                mixed.reset();
            } else {
                quant.bits = static_cast<int>(integer_value(value, key, 2, 8));
                quantize = true;
            }
        } else if (key == "group") {
            quant.group_size = integer_value(value, key, 0, std::numeric_limits<int64_t>::max());
        } else if (key == "sym") {
            quant.symmetric = value.get<bool>();
        } else if (key == "asym") {
            quant.symmetric = !value.get<bool>();
        } else if (key == "mse") {
            quant.mse = value.get<bool>();
        } else if (key == "act_order") {
            quant.act_order = value.get<bool>();
        } else if (key == "static_groups") {
            quant.static_groups = value.get<bool>();
        } else if (key == "grid") {
            const std::string g = value.get<std::string>();
            require_arg(g == "affine" || g == "ggml", "recipe \"grid\" must be affine or ggml, got '" + g + "'");
            quant.kind = g == "ggml" ? GridKind::ggml : GridKind::affine;
        } else if (key == "damp") {
            percdamp = value.get<double>();
        } else if (key == "blocksize") {
            block_size = integer_value(value, key, 1, std::numeric_limits<int64_t>::max());
        } else if (key == "mask_scope") {
            const std::string s = value.get<std::string>();
            require_arg(s == "block" || s == "row", "mask_scope must be block or row, got '" + s + "'");
            scope = s == "row" ? SURGEON_MASK_SCOPE_ROW : SURGEON_MASK_SCOPE_BLOCK;
        } else if (key == "mixed") {
            if (value.is_null()) {
                mixed.reset();
            } else {
                // Merges over the inherited plan: a rule may change only the target.
                MixedRecipe next = mixed.value_or(MixedRecipe{});
                apply_mixed_spec(value, &next);
                mixed = std::move(next);
                quantize = true;
            }
        } else {
            fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown recipe key '" + key + "'");
        }
    }
    if (method == Method::gptq || method == Method::rtn) quantize = true;
    if (quantize) quant.validate();
    require_arg(!(is_mixed() && quant.kind == GridKind::ggml),
                "mixed precision gives rows their own widths: the ggml grid (Q4_0/Q8_0) has one");
}

nlohmann::json LayerPlan::to_json() const {
    nlohmann::json j{{"method", method_name(method)}};
    if (method == Method::dense) return j;
    if (method != Method::gptq && method != Method::rtn) {
        if (n > 0)
            j["nm"] = std::to_string(n) + ":" + std::to_string(m);
        else
            j["sparsity"] = sparsity;
    }
    if (quantize) {
        j["bits"] = quant.bits;
        j["group"] = quant.group_size;
        j["sym"] = quant.symmetric;
        if (quant.mse) j["mse"] = true;
        if (quant.act_order) j["act_order"] = true;
        if (quant.static_groups) j["static_groups"] = true;
        if (quant.kind == GridKind::ggml) j["grid"] = "ggml";
        if (is_mixed()) j["mixed"] = mixed_plan_to_json(*mixed);
    }
    if (method == Method::sparsegpt || method == Method::gptq) {
        j["damp"] = percdamp;
        j["blocksize"] = block_size;
    }
    if (method == Method::sparsegpt && scope == SURGEON_MASK_SCOPE_ROW) j["mask_scope"] = "row";
    return j;
}

MoeFallback parse_moe_fallback(const std::string& name) {
    if (name == "pooled") return MoeFallback::pooled;
    if (name == "rtn") return MoeFallback::rtn;
    fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown MoE fallback '" + name + "' (pooled or rtn)");
}

const char* moe_fallback_name(MoeFallback f) { return f == MoeFallback::rtn ? "rtn" : "pooled"; }

Recipe Recipe::from_json(const nlohmann::json& j) {
    require_arg(j.is_object(), "a recipe must be a JSON object");
    Recipe r;
    if (j.contains("moe")) {
        const auto& m = j.at("moe");
        require_arg(m.is_object(), "recipe \"moe\" must be an object");
        for (const auto& [key, value] : m.items()) {
            if (key == "min_tokens") {
                require_arg(value.is_number_integer() && value.get<int64_t>() >= 0,
                            "recipe moe.min_tokens must be a non-negative integer");
                r.moe_.min_tokens = value.get<int64_t>();
            } else if (key == "fallback") {
                require_arg(value.is_string(), "recipe moe.fallback must be \"pooled\" or \"rtn\"");
                r.moe_.fallback = parse_moe_fallback(value.get<std::string>());
            } else {
                fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown recipe moe key '" + key + "' (min_tokens, fallback)");
            }
        }
    }
    if (j.contains("cbq")) {
        CbqOptions probe;
        probe.apply(j.at("cbq"));  // validates
        r.cbq_ = j.at("cbq");
    }
    if (j.contains("default")) r.defaults_.apply(j.at("default"));
    if (j.contains("rules")) {
        require_arg(j.at("rules").is_array(), "recipe \"rules\" must be an array");
        for (const auto& rule : j.at("rules")) {
            require_arg(rule.is_object() && rule.contains("match"),
                        "every recipe rule needs a \"match\" pattern");
            LayerPlan probe = r.defaults_;
            probe.apply(rule);  // validates the rule early
            r.rules_.push_back({rule.at("match").get<std::string>(), rule});
        }
    }
    return r;
}

Recipe Recipe::from_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) fail(SURGEON_ERR_IO, "cannot open recipe '" + path + "'");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail(SURGEON_ERR_IO, path + ": invalid JSON: " + e.what());
    }
    try {
        return from_json(j);
    } catch (const nlohmann::json::exception& e) {
        fail(SURGEON_ERR_INVALID_ARGUMENT, path + ": " + e.what());
    }
}

bool Recipe::uses(Method m) const {
    if (defaults_.method == m) return true;
    for (const Rule& rule : rules_)
        if (rule.spec.contains("method") && rule.spec.at("method").is_string() &&
            parse_method(rule.spec.at("method").get<std::string>()) == m)
            return true;
    return false;
}

LayerPlan Recipe::plan_for(const std::string& layer_name) const {
    LayerPlan plan = defaults_;
    for (const Rule& rule : rules_)
        if (fnmatch(rule.match.c_str(), layer_name.c_str(), 0) == 0) plan.apply(rule.spec);
    // A skip holds even when a later, broader rule names a method ("skip": false undoes it).
    if (plan.skip) plan.method = Method::dense;
    return plan;
}

}  // namespace surgeon::model
