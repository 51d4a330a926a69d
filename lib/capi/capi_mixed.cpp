// Mixed precision: importance, per-row bit allocation, solver with per-row widths, stats.
#include <algorithm>
#include <cstring>

#include "capi/guard.hpp"
#include "capi/handles.hpp"
#include "layer/quant/allocation.hpp"
#include "layer/quant/importance.hpp"
#include "layer/quant/mixed_error.hpp"
#include "compress/mixed_json.hpp"

struct surgeon_importance {
    surgeon::Importance imp;
};

using namespace surgeon;
using namespace surgeon::capi;

namespace {

std::vector<int> options_of(const int32_t* options, int n_options) {
    require_not_null(options, "options");
    require_arg(n_options >= 1 && n_options <= 8,
                "n_options must be in [1, 8], got " + std::to_string(n_options));
    std::vector<int> v(options, options + n_options);
    const std::vector<int> sorted = normalize_bit_options(v);  // validates the range
    require_arg(sorted.size() == v.size(), "a bit option is listed twice");
    return v;
}

void copy_bits(const std::vector<int>& bits, int32_t* out) {
    std::copy(bits.begin(), bits.end(), out);
}

std::vector<int> row_bits_of(const int32_t* row_bits, int64_t rows) {
    require_not_null(row_bits, "row_bits");
    require_shape(rows >= 1, "rows must be >= 1, got " + std::to_string(rows));
    return std::vector<int>(row_bits, row_bits + rows);
}

ConstMatView const_view(const float* w, int64_t rows, int64_t cols, int64_t ld) {
    require_not_null(w, "w");
    return {w, rows, cols, resolve_ld(rows, cols, ld, "w")};
}

MixedStats stats_of(const int32_t* bits, int64_t rows, int64_t cols, int64_t group_size,
                    int scale_bits, int zero_bits, const surgeon_importance* imp) {
    require_not_null(bits, "bits");
    require_shape(rows >= 1, "rows must be >= 1, got " + std::to_string(rows));
    OverheadModel o;
    o.scale_bits = scale_bits;
    o.zero_bits = zero_bits;
    return mixed_stats(std::vector<int>(bits, bits + rows), cols, group_size, o,
                       imp ? &imp->imp.score : nullptr);
}

}  // namespace

extern "C" {

surgeon_status surgeon_importance_default_weights(double* out) {
    SURGEON_GUARD({
        require_not_null(out, "out");
        const ImportanceWeights d;
        std::copy(d.w.begin(), d.w.end(), out);
    });
}

surgeon_status surgeon_importance_compute(surgeon_importance** out, const surgeon_context* ctx,
                                          const surgeon_hessian* h, surgeon_solver* solver,
                                          const float* w, int64_t rows, int64_t cols, int64_t ld,
                                          const double* weights) {
    SURGEON_GUARD({
        require_out(out);
        const Hessian& acc = *deref(h, "h").impl;
        ConstMatView view = const_view(w, rows, cols, ld);
        require_shape(acc.cols() == cols, "weight has " + std::to_string(cols) +
                                              " columns, the Hessian " + std::to_string(acc.cols()));
        ImportanceWeights iw;
        if (weights) std::copy(weights, weights + kImportanceSignals, iw.w.begin());
        iw.validate();
        ColumnStatistics stats = column_statistics(acc);
        if (iw[ImportanceSignal::hessian] > 0.0) {
            if (solver) {
                Solver& s = *solver->impl;
                require_shape(s.cols() == cols, "the solver has " + std::to_string(s.cols()) +
                                                    " columns, the weight " + std::to_string(cols));
                stats.inv_hessian_diag = inverse_diagonal(s.inverse_factor());
            } else {
                Solver own(context_of(ctx), acc, 0.01, 128);
                stats.inv_hessian_diag = inverse_diagonal(own.inverse_factor());
            }
        }
        ContextPtr c = context_of(ctx);
        auto handle = std::make_unique<surgeon_importance>();
        handle->imp = compute_importance(*c, view, stats, iw);
        *out = handle.release();
    });
}

void surgeon_importance_free(surgeon_importance* imp) { release(imp); }

surgeon_status surgeon_importance_rows(const surgeon_importance* imp, int64_t* out) {
    SURGEON_GUARD({
        const Importance& i = deref(imp, "imp").imp;
        require_not_null(out, "out");
        *out = i.rows;
    });
}

surgeon_status surgeon_importance_scores(const surgeon_importance* imp, float* out) {
    SURGEON_GUARD({
        const Importance& i = deref(imp, "imp").imp;
        require_not_null(out, "out");
        std::copy(i.score.begin(), i.score.end(), out);
    });
}

surgeon_status surgeon_importance_signal_values(const surgeon_importance* imp,
                                                surgeon_importance_signal signal, float* out,
                                                int* available) {
    SURGEON_GUARD({
        const Importance& i = deref(imp, "imp").imp;
        const int s = enum_value(signal);
        require_arg(s >= 0 && s < kImportanceSignals, "unknown signal " + std::to_string(s));
        require_not_null(out, "out");
        std::copy(i.signals[s].begin(), i.signals[s].end(), out);
        if (available) *available = i.available[s] ? 1 : 0;
    });
}

surgeon_status surgeon_attainable_average(int64_t rows, const int32_t* options, int n_options,
                                          double avg_bits, double* out) {
    SURGEON_GUARD({
        const std::vector<int> opts = options_of(options, n_options);
        require_not_null(out, "out");
        *out = static_cast<double>(attainable_total(rows, opts, avg_bits)) / static_cast<double>(rows);
    });
}

surgeon_status surgeon_allocate_quantile(const surgeon_importance* imp, const int32_t* options,
                                         int n_options, const double* quantiles, double avg_bits,
                                         int32_t* bits_out) {
    SURGEON_GUARD({
        const Importance& i = deref(imp, "imp").imp;
        const std::vector<int> opts = options_of(options, n_options);
        require_not_null(bits_out, "bits_out");
        const std::vector<double> cuts =
            quantiles ? std::vector<double>(quantiles, quantiles + (n_options - 1))
                      : quantiles_for_target(opts, avg_bits);
        copy_bits(allocate_quantile(i.score, opts, cuts), bits_out);
    });
}

surgeon_status surgeon_allocate_budget(const surgeon_importance* imp, const int32_t* options,
                                       int n_options, double avg_bits, int32_t* bits_out) {
    SURGEON_GUARD({
        const Importance& i = deref(imp, "imp").imp;
        const std::vector<int> opts = options_of(options, n_options);
        require_not_null(bits_out, "bits_out");
        copy_bits(allocate_budget(i.score, opts, avg_bits), bits_out);
    });
}

surgeon_status surgeon_mixed_row_errors(const surgeon_context* ctx, surgeon_solver* solver,
                                        const float* w, int64_t rows, int64_t cols, int64_t ld,
                                        const surgeon_quantizer* quantizer, const int32_t* options,
                                        int n_options, double* errors_out) {
    SURGEON_GUARD({
        Solver& s = *deref(solver, "solver").impl;
        ConstMatView view = const_view(w, rows, cols, ld);
        const QuantConfig& cfg = deref(quantizer, "quantizer").cfg;
        const std::vector<int> opts = options_of(options, n_options);
        require_not_null(errors_out, "errors_out");
        require_shape(s.cols() == cols, "the solver has " + std::to_string(s.cols()) +
                                            " columns, the weight " + std::to_string(cols));
        ContextPtr c = context_of(ctx);
        const std::vector<double> e =
            estimate_row_errors(*c, view, obs_column_weights(s.inverse_factor()), cfg, opts);
        std::copy(e.begin(), e.end(), errors_out);
    });
}

surgeon_status surgeon_allocate_error(const double* errors, int64_t rows, const int32_t* options,
                                      int n_options, double avg_bits, int32_t* bits_out) {
    SURGEON_GUARD({
        require_not_null(errors, "errors");
        const std::vector<int> opts = options_of(options, n_options);
        require_not_null(bits_out, "bits_out");
        require_shape(rows >= 1, "rows must be >= 1, got " + std::to_string(rows));
        std::vector<double> e(errors, errors + rows * n_options);
        copy_bits(allocate_error(e, rows, opts, avg_bits), bits_out);
    });
}

surgeon_status surgeon_allocate_error_groups(const double* costs, const int64_t* rows,
                                             const int64_t* weights, const int32_t* options,
                                             const int32_t* n_options, int64_t n_groups,
                                             int64_t budget_bits, int32_t* bits_out) {
    SURGEON_GUARD({
        require_not_null(costs, "costs");
        require_not_null(rows, "rows");
        require_not_null(weights, "weights");
        require_not_null(n_options, "n_options");
        require_not_null(bits_out, "bits_out");
        require_arg(n_groups >= 1, "n_groups must be >= 1, got " + std::to_string(n_groups));
        std::vector<BudgetGroup> groups(static_cast<size_t>(n_groups));
        const int32_t* opts = options;
        const double* cost = costs;
        for (size_t i = 0; i < groups.size(); ++i) {
            BudgetGroup& g = groups[i];
            require_shape(rows[i] >= 1, "group " + std::to_string(i) + " has " + std::to_string(rows[i]) + " rows");
            g.options = options_of(opts, n_options[i]);
            g.rows = rows[i];
            g.weight = weights[i];
            g.cost.assign(cost, cost + rows[i] * n_options[i]);
            opts += n_options[i];
            cost += rows[i] * n_options[i];
        }
        const std::vector<std::vector<int>> bits = solve_grouped_budget(groups, budget_bits);
        for (const std::vector<int>& b : bits) bits_out = std::copy(b.begin(), b.end(), bits_out);
    });
}

surgeon_status surgeon_solver_quantize_mixed(surgeon_solver* s, float* w, int64_t rows,
                                             int64_t cols, int64_t ld,
                                             const surgeon_quantizer* quantizer,
                                             const int32_t* row_bits, surgeon_qresult* qresult_out,
                                             double* loss_out) {
    SURGEON_GUARD({
        Solver& solver = *deref(s, "s").impl;
        const QuantConfig& cfg = deref(quantizer, "quantizer").cfg;
        require_not_null(w, "w");
        const std::vector<int> bits = row_bits_of(row_bits, rows);
        solver.quantize({w, rows, cols, resolve_ld(rows, cols, ld, "w")}, cfg,
                        qresult_out ? &qresult_out->r : nullptr, loss_out, &bits);
    });
}

surgeon_status surgeon_solver_prune_mixed(surgeon_solver* s, float* w, int64_t rows, int64_t cols,
                                          int64_t ld, double sparsity, int n, int m,
                                          surgeon_mask_scope scope,
                                          const surgeon_quantizer* quantizer,
                                          const int32_t* row_bits, surgeon_mask* mask_out,
                                          surgeon_qresult* qresult_out, double* loss_out) {
    SURGEON_GUARD({
        Solver& solver = *deref(s, "s").impl;
        const QuantConfig& cfg = deref(quantizer, "quantizer").cfg;
        require_not_null(w, "w");
        const std::vector<int> bits = row_bits_of(row_bits, rows);
        PruneOptions opt;
        opt.sparsity = sparsity;
        opt.n = n;
        opt.m = m;
        opt.scope = mask_scope_arg(scope);
        solver.prune({w, rows, cols, resolve_ld(rows, cols, ld, "w")}, opt, &cfg,
                     mask_out ? &mask_out->m : nullptr, qresult_out ? &qresult_out->r : nullptr,
                     loss_out, &bits);
    });
}

surgeon_status surgeon_qresult_row_bits(const surgeon_qresult* r, int32_t* out) {
    SURGEON_GUARD({
        const QuantResult& q = deref(r, "r").r;
        require_not_null(out, "out");
        for (int64_t i = 0; i < q.rows; ++i) out[i] = q.bits_of_row(i);
    });
}

surgeon_status surgeon_mixed_stats_compute(const int32_t* bits, int64_t rows, int64_t cols,
                                           int64_t group_size, int scale_bits, int zero_bits,
                                           const surgeon_importance* imp, surgeon_mixed_stats* out) {
    SURGEON_GUARD({
        require_not_null(out, "out");
        const MixedStats s = stats_of(bits, rows, cols, group_size, scale_bits, zero_bits, imp);
        surgeon_mixed_stats r{};
        r.channels = s.channels;
        r.weights = s.weights;
        r.grids = s.grids;
        std::copy(s.histogram.begin(), s.histogram.end(), r.histogram);
        r.avg_bits = s.avg_bits();
        r.avg_bits_with_overhead = s.avg_bits_with_overhead();
        r.has_importance = s.has_importance ? 1 : 0;
        r.importance_min = s.importance_min;
        r.importance_max = s.importance_max;
        r.importance_mean = s.importance_mean;
        *out = r;
    });
}

surgeon_status surgeon_mixed_stats_json(const int32_t* bits, int64_t rows, int64_t cols,
                                        int64_t group_size, int scale_bits, int zero_bits,
                                        const surgeon_importance* imp, char* buf, size_t cap,
                                        size_t* len) {
    SURGEON_GUARD({
        require_not_null(len, "len");
        const std::string text =
            mixed_stats_to_json(stats_of(bits, rows, cols, group_size, scale_bits, zero_bits, imp)).dump();
        if (buf) {
            require_arg(cap > text.size(), "buffer of " + std::to_string(cap) + " bytes for " +
                                               std::to_string(text.size() + 1) + " needed");
            std::memcpy(buf, text.c_str(), text.size() + 1);
        }
        *len = text.size();
    });
}

}  // extern "C"
