#include "layer/quant/mixed.hpp"

#include "core/names.hpp"
#include "layer/quant/mixed_error.hpp"

namespace surgeon {

namespace {

constexpr EnumName<Allocator> kAllocators[] = {
    {Allocator::quantile, "quantile"}, {Allocator::budget, "budget"}, {Allocator::error, "error"}};
constexpr EnumName<ErrorNormalization> kNormalizations[] = {
    {ErrorNormalization::none, "none"}, {ErrorNormalization::energy, "energy"}, {ErrorNormalization::uniform, "uniform"}};

}  // namespace

Allocator parse_allocator(const std::string& name) { return parse_enum(kAllocators, name, "allocator"); }
const char* allocator_name(Allocator a) { return enum_name(kAllocators, a); }

ErrorNormalization parse_error_normalization(const std::string& name) {
    return parse_enum(kNormalizations, name, "error normalization");
}
const char* error_normalization_name(ErrorNormalization n) { return enum_name(kNormalizations, n); }

void MixedPlan::validate() const {
    const std::vector<int> sorted = normalize_bit_options(options);
    require_arg(sorted.size() == options.size(), "a bit option is listed twice");
    weights.validate();
    overhead.validate();
    if (allocator != Allocator::quantile || quantiles.empty())
        attainable_total(1, options, avg_bits);  // throws when outside the options
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
