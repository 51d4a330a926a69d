#include "layer/quant/mixed.hpp"

#include "core/names.hpp"
#include "layer/quant/mixed_error.hpp"

namespace surgeon {

namespace {
constexpr Named<Allocator> kAllocators[] = {
    {Allocator::quantile, "quantile"}, {Allocator::budget, "budget"}, {Allocator::error, "error"}};
constexpr Named<ErrorModel> kErrorModels[] = {{ErrorModel::rounding, "rounding"}, {ErrorModel::solver, "solver"}};
constexpr Named<RowSensitivity> kRowSensitivities[] = {
    {RowSensitivity::layer, "layer"}, {RowSensitivity::downstream, "downstream"}, {RowSensitivity::fisher, "fisher"}};
constexpr Named<BudgetScope> kBudgetScopes[] = {{BudgetScope::layer, "layer"}, {BudgetScope::model, "model"}};
constexpr Named<ErrorNormalization> kNormalizations[] = {{ErrorNormalization::none, "none"},
                                                         {ErrorNormalization::energy, "energy"},
                                                         {ErrorNormalization::uniform, "uniform"}};
}  // namespace

Allocator parse_allocator(const std::string& name) { return parse_name(kAllocators, name, "allocator"); }
const char* allocator_name(Allocator a) { return name_of(kAllocators, a); }

ErrorModel parse_error_model(const std::string& name) { return parse_name(kErrorModels, name, "error model"); }
const char* error_model_name(ErrorModel m) { return name_of(kErrorModels, m); }

RowSensitivity parse_row_sensitivity(const std::string& name) {
    return parse_name(kRowSensitivities, name, "row sensitivity");
}
const char* row_sensitivity_name(RowSensitivity s) { return name_of(kRowSensitivities, s); }

BudgetScope parse_budget_scope(const std::string& name) { return parse_name(kBudgetScopes, name, "budget scope"); }
const char* budget_scope_name(BudgetScope s) { return name_of(kBudgetScopes, s); }

ErrorNormalization parse_error_normalization(const std::string& name) {
    return parse_name(kNormalizations, name, "error normalization");
}
const char* error_normalization_name(ErrorNormalization n) { return name_of(kNormalizations, n); }

void MixedPlan::validate() const {
    const std::vector<int> sorted = normalize_bit_options(options);
    require_arg(sorted.size() == options.size(), "a bit option is listed twice");
    weights.validate();
    overhead.validate();
    require_arg(scope == BudgetScope::layer ||
                    (allocator == Allocator::error && sensitivity == RowSensitivity::fisher &&
                     normalize == ErrorNormalization::none),
                "a model-wide budget (scope \"model\") needs the error allocator with Fisher sensitivity "
                "and unnormalized errors (its costs are nats, compared across layers)");
    if (allocator != Allocator::quantile || quantiles.empty())
        attainable_total(1, options, avg_bits);  // throws when outside the options
}

void MixedPlan::apply(const nlohmann::json& spec) {
    require_arg(spec.is_object(), "mixed precision spec must be a JSON object");
    MixedPlan next = *this;
    try {
        for (const auto& [key, value] : spec.items()) {
            if (key == "allocator") next.allocator = parse_allocator(value.get<std::string>());
            else if (key == "avg_bits") next.avg_bits = value.get<double>();
            else if (key == "options") next.options = value.get<std::vector<int>>();
            else if (key == "quantiles") next.quantiles = value.get<std::vector<double>>();
            else if (key == "error_model") next.error_model = parse_error_model(value.get<std::string>());
            else if (key == "sensitivity") next.sensitivity = parse_row_sensitivity(value.get<std::string>());
            else if (key == "downstream")  // the boolean of earlier recipes
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
    *this = std::move(next);
}

nlohmann::json MixedPlan::to_json() const {
    nlohmann::json w = nlohmann::json::object();
    for (int s = 0; s < kImportanceSignals; ++s)
        w[signal_name(static_cast<ImportanceSignal>(s))] = weights.w[s];
    nlohmann::json j = {{"allocator", allocator_name(allocator)},
                        {"avg_bits", avg_bits},
                        {"options", options},
                        {"error_model", error_model_name(error_model)},
                        {"sensitivity", row_sensitivity_name(sensitivity)},
                        {"scope", budget_scope_name(scope)},
                        {"normalize", error_normalization_name(normalize)},
                        {"weights", w},
                        {"scale_bits", overhead.scale_bits},
                        {"zero_bits", overhead.zero_bits}};
    if (!quantiles.empty()) j["quantiles"] = quantiles;
    return j;
}

RowBits allocate_from_errors(std::vector<double> errors, int64_t rows, int64_t cols,
                             const QuantConfig& cfg, const MixedPlan& plan) {
    plan.validate();
    require_shape(rows >= 1 && errors.size() == static_cast<size_t>(rows) * plan.options.size(),
                  "expected " + std::to_string(rows) + " x " + std::to_string(plan.options.size()) +
                      " row errors, got " + std::to_string(errors.size()));
    RowBits rb;
    rb.errors = std::move(errors);
    rb.bits = allocate_error(rb.errors, rows, plan.options, plan.avg_bits, plan.solver);
    rb.stats = mixed_stats(rb.bits, cols, cfg.group_size, plan.overhead, nullptr);
    return rb;
}

RowBits allocate_row_bits(const Context& ctx, const Hessian& h, const Matrix& u, ConstMatView w,
                          const QuantConfig& cfg, const MixedPlan& plan,
                          const std::vector<float>* column_weight) {
    plan.validate();
    require_shape(w.cols == h.cols() && u.cols == h.cols() && u.rows == h.cols(),
                  "weight has " + std::to_string(w.cols) + " columns, the Hessian " +
                      std::to_string(h.cols()) + ", the factor " + std::to_string(u.cols));
    if (plan.allocator == Allocator::error)
        return allocate_from_errors(
            estimate_row_errors(ctx, w, column_weight ? *column_weight : obs_column_weights(u), cfg,
                                plan.options),
            w.rows, w.cols, cfg, plan);
    RowBits rb;
    ColumnStatistics stats = column_statistics(h);
    if (plan.weights[ImportanceSignal::hessian] > 0.0) stats.inv_hessian_diag = inverse_diagonal(u);
    rb.importance = compute_importance(ctx, w, stats, plan.weights);
    const std::vector<float>* importance = &rb.importance->score;
    if (plan.allocator == Allocator::budget) {
        rb.bits = allocate_budget(*importance, plan.options, plan.avg_bits, plan.solver);
    } else {
        const std::vector<double> cuts = plan.quantiles.empty()
                                             ? quantiles_for_target(plan.options, plan.avg_bits)
                                             : plan.quantiles;
        rb.bits = allocate_quantile(*importance, plan.options, cuts);
    }
    rb.stats = mixed_stats(rb.bits, w.cols, cfg.group_size, plan.overhead, importance);
    return rb;
}

}  // namespace surgeon
