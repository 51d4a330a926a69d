#include "compress/mixed_json.hpp"

#include <string>

#include "core/error.hpp"

namespace surgeon {

void apply_mixed_spec(const nlohmann::json& spec, MixedRecipe* plan) {
    require_arg(spec.is_object(), "mixed precision spec must be a JSON object");
    MixedRecipe next = *plan;
    try {
        for (const auto& [key, value] : spec.items()) {
            if (key == "allocator") next.allocator = parse_allocator(value.get<std::string>());
            else if (key == "avg_bits") next.avg_bits = value.get<double>();
            else if (key == "options") next.options = value.get<std::vector<int>>();
            else if (key == "quantiles") next.quantiles = value.get<std::vector<double>>();
            else if (key == "error_model") next.error_model = parse_error_model(value.get<std::string>());
            else if (key == "sensitivity") next.sensitivity = parse_row_sensitivity(value.get<std::string>());
            else if (key == "downstream")  // a boolean: true is "downstream", false is "layer"
                next.sensitivity = value.get<bool>() ? RowSensitivity::downstream : RowSensitivity::layer;
            else if (key == "scope") next.scope = parse_budget_scope(value.get<std::string>());
            else if (key == "normalize") next.normalize = parse_error_normalization(value.get<std::string>());
            else if (key == "scale_bits") next.overhead.scale_bits = value.get<int>();
            else if (key == "zero_bits") next.overhead.zero_bits = value.get<int>();
            else if (key == "weights") {
                require_arg(value.is_object(), "mixed precision weights must be an object");
                for (const auto& [name, v] : value.items()) {
                    bool found = false;
                    for (int s = 0; s < kImportanceSignals; ++s)
                        if (name == signal_name(static_cast<ImportanceSignal>(s))) {
                            next.weights.w[s] = v.get<double>();
                            found = true;
                        }
                    require_arg(found, "unknown importance signal '" + name + "'");
                }
            } else {
                fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown mixed precision key '" + key + "'");
            }
        }
    } catch (const nlohmann::json::exception& e) {
        fail(SURGEON_ERR_INVALID_ARGUMENT, std::string("mixed precision spec: ") + e.what());
    }
    next.validate();
    *plan = std::move(next);
}

nlohmann::json mixed_plan_to_json(const MixedRecipe& plan) {
    nlohmann::json w = nlohmann::json::object();
    for (int s = 0; s < kImportanceSignals; ++s)
        w[signal_name(static_cast<ImportanceSignal>(s))] = plan.weights.w[s];
    nlohmann::json j = {{"allocator", allocator_name(plan.allocator)},
                        {"avg_bits", plan.avg_bits},
                        {"options", plan.options},
                        {"error_model", error_model_name(plan.error_model)},
                        {"sensitivity", row_sensitivity_name(plan.sensitivity)},
                        {"scope", budget_scope_name(plan.scope)},
                        {"normalize", error_normalization_name(plan.normalize)},
                        {"weights", w},
                        {"scale_bits", plan.overhead.scale_bits},
                        {"zero_bits", plan.overhead.zero_bits}};
    if (!plan.quantiles.empty()) j["quantiles"] = plan.quantiles;
    return j;
}

nlohmann::json mixed_stats_to_json(const MixedStats& stats) {
    nlohmann::json hist = nlohmann::json::object();
    for (int b = 1; b <= 8; ++b)
        if (stats.histogram[b]) hist[std::to_string(b)] = stats.histogram[b];
    nlohmann::json j = {{"channels", stats.channels},
                        {"weights", stats.weights},
                        {"grids", stats.grids},
                        {"histogram", hist},
                        {"avg_bits", stats.avg_bits()},
                        {"avg_bits_with_overhead", stats.avg_bits_with_overhead()}};
    if (stats.has_importance)
        j["importance"] = {{"min", stats.importance_min}, {"max", stats.importance_max}, {"mean", stats.importance_mean}};
    return j;
}

}  // namespace surgeon
