// Mixed precision: importance, per-row bit allocation, per-row widths of results, stats.
#include <algorithm>
#include <cmath>

#include "capi/buffer.hpp"
#include "capi/guard.hpp"
#include "capi/handles.hpp"
#include "layer/quant/allocation.hpp"
#include "layer/quant/importance.hpp"
#include "layer/quant/mixed_error.hpp"
#include "compress/mixed_json.hpp"

struct surgeon_importance {
    surgeon::Importance imp;
};
struct surgeon_mixed_options {
    std::vector<int> bits{2, 3, 4};  // in the caller's order
    double average = 3.0;
    std::vector<double> quantiles;   // empty: the cuts of the average
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

const surgeon_mixed_options& mixed_options(const surgeon_mixed_options* opts) {
    static const surgeon_mixed_options defaults;
    return opts ? *opts : defaults;
}

// One width per row of imp into bits_out, from allocate(scores, options).
template <typename Allocate>
void allocate_by_importance(const surgeon_importance* imp, const surgeon_mixed_options* opts, int32_t* bits_out,
                            Allocate allocate) {
    const Importance& i = deref(imp, "imp").imp;
    const surgeon_mixed_options& o = mixed_options(opts);
    require_not_null(bits_out, "bits_out");
    copy_bits(allocate(i.score, o), bits_out);
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

surgeon_status surgeon_importance_compute(surgeon_importance** out, const surgeon_hessian* h, surgeon_solver* solver,
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
                const surgeon_solver_options d;
                Solver own(acc.context(), acc, d.percdamp, d.block_size);
                stats.inv_hessian_diag = inverse_diagonal(own.inverse_factor());
            }
        }
        auto handle = std::make_unique<surgeon_importance>();
        handle->imp = compute_importance(*acc.context(), view, stats, iw);
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

SURGEON_DEFAULT_HANDLE(surgeon_mixed_options)


surgeon_status surgeon_mixed_options_set_bits(surgeon_mixed_options* opts, const int32_t* options, int n_options) {
    SURGEON_GUARD({
        auto& o = deref(opts, "opts");
        o.bits = options_of(options, n_options);
    });
}

surgeon_status surgeon_mixed_options_set_average(surgeon_mixed_options* opts, double avg_bits) {
    SURGEON_GUARD({
        auto& o = deref(opts, "opts");
        require_arg(std::isfinite(avg_bits) && avg_bits > 0.0,
                    "avg_bits must be finite and > 0, got " + std::to_string(avg_bits));
        o.average = avg_bits;
    });
}

surgeon_status surgeon_mixed_options_set_quantiles(surgeon_mixed_options* opts, const double* quantiles,
                                                   int count) {
    SURGEON_GUARD({
        auto& o = deref(opts, "opts");
        require_arg(count >= 0, "count must be >= 0, got " + std::to_string(count));
        std::vector<double> cuts;
        if (quantiles) cuts.assign(quantiles, quantiles + count);
        for (size_t i = 0; i < cuts.size(); ++i)
            require_arg(cuts[i] >= 0.0 && cuts[i] <= 1.0 && (i == 0 || cuts[i] >= cuts[i - 1]),
                        "quantiles must be non-decreasing in [0, 1]; quantiles[" + std::to_string(i) +
                            "] = " + std::to_string(cuts[i]));
        o.quantiles = std::move(cuts);
    });
}

surgeon_status surgeon_mixed_options_get_bits(const surgeon_mixed_options* opts, int32_t* buf, size_t cap,
                                              size_t* needed) {
    SURGEON_GUARD({ write_array(deref(opts, "opts").bits, buf, cap, needed); });
}

surgeon_status surgeon_mixed_options_get_average(const surgeon_mixed_options* opts, double* out) {
    SURGEON_GUARD({ get_into(opts, "opts", out, [](const surgeon_mixed_options& o) { return o.average; }); });
}

surgeon_status surgeon_attainable_average(int64_t rows, const surgeon_mixed_options* opts, double* out) {
    SURGEON_GUARD({
        const surgeon_mixed_options& o = mixed_options(opts);
        require_not_null(out, "out");
        require_shape(rows >= 1, "rows must be >= 1, got " + std::to_string(rows));
        *out = static_cast<double>(attainable_total(rows, o.bits, o.average)) / static_cast<double>(rows);
    });
}

surgeon_status surgeon_allocate_quantile(const surgeon_importance* imp, const surgeon_mixed_options* opts,
                                         int32_t* bits_out) {
    SURGEON_GUARD({
        allocate_by_importance(imp, opts, bits_out, [](const std::vector<float>& score, const surgeon_mixed_options& o) {
            require_arg(o.quantiles.empty() || o.quantiles.size() + 1 == o.bits.size(),
                    std::to_string(o.quantiles.size()) + " quantiles for " + std::to_string(o.bits.size()) +
                            " bit options (one fewer needed)");
            return allocate_quantile(score, o.bits,
                                     o.quantiles.empty() ? quantiles_for_target(o.bits, o.average) : o.quantiles);
        });
    });
}

surgeon_status surgeon_allocate_budget(const surgeon_importance* imp, const surgeon_mixed_options* opts,
                                       int32_t* bits_out) {
    SURGEON_GUARD({
        allocate_by_importance(imp, opts, bits_out, [](const std::vector<float>& score, const surgeon_mixed_options& o) {
            return allocate_budget(score, o.bits, o.average);
        });
    });
}

surgeon_status surgeon_mixed_row_errors(surgeon_solver* solver, const float* w, int64_t rows, int64_t cols,
                                        int64_t ld, const surgeon_quantizer* q, const surgeon_mixed_options* opts,
                                        double* errors_out) {
    SURGEON_GUARD({
        surgeon_solver& handle = deref(solver, "solver");
        Solver& s = *handle.impl;
        ConstMatView view = const_view(w, rows, cols, ld);
        const QuantConfig& cfg = deref(q, "q").cfg;
        const surgeon_mixed_options& o = mixed_options(opts);
        require_not_null(errors_out, "errors_out");
        require_shape(s.cols() == cols, "the solver has " + std::to_string(s.cols()) +
                                            " columns, the weight " + std::to_string(cols));
        const std::vector<double> e =
            estimate_row_errors(*handle.ctx, view, obs_column_weights(s.inverse_factor()), cfg, o.bits);
        std::copy(e.begin(), e.end(), errors_out);
    });
}

surgeon_status surgeon_allocate_error(const double* errors, int64_t rows, const surgeon_mixed_options* opts,
                                      int32_t* bits_out) {
    SURGEON_GUARD({
        require_not_null(errors, "errors");
        const surgeon_mixed_options& o = mixed_options(opts);
        require_not_null(bits_out, "bits_out");
        require_shape(rows >= 1, "rows must be >= 1, got " + std::to_string(rows));
        std::vector<double> e(errors, errors + rows * static_cast<int64_t>(o.bits.size()));
        copy_bits(allocate_error(e, rows, o.bits, o.average), bits_out);
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

surgeon_status surgeon_qresult_row_bits(const surgeon_qresult* r, int32_t* out) {
    SURGEON_GUARD({
        const QuantResult& q = deref(r, "r").r;
        require_not_null(out, "out");
        for (int64_t i = 0; i < q.rows; ++i) out[i] = q.bits_of_row(i);
    });
}

surgeon_status surgeon_mixed_stats_init(surgeon_mixed_stats* stats, unsigned int version) {
    SURGEON_GUARD({ init_struct(stats, version, SURGEON_MIXED_STATS_VERSION, "stats"); });
}

surgeon_status surgeon_mixed_stats_compute(const int32_t* bits, int64_t rows, int64_t cols,
                                           int64_t group_size, int scale_bits, int zero_bits,
                                           const surgeon_importance* imp, surgeon_mixed_stats* out) {
    SURGEON_GUARD({
        require_version(out, SURGEON_MIXED_STATS_VERSION, "out");
        const MixedStats s = stats_of(bits, rows, cols, group_size, scale_bits, zero_bits, imp);
        surgeon_mixed_stats& r = *out;
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
    });
}

surgeon_status surgeon_mixed_stats_json(const surgeon_mixed_stats* stats, char* buf, size_t cap, size_t* needed) {
    SURGEON_GUARD({
        require_version(stats, SURGEON_MIXED_STATS_VERSION, "stats");
        MixedStats s;
        s.channels = stats->channels;
        s.weights = stats->weights;
        s.grids = stats->grids;
        std::copy(stats->histogram, stats->histogram + 9, s.histogram.begin());
        const double weights = static_cast<double>(stats->weights);
        s.payload_bits = stats->avg_bits * weights;
        s.overhead_bits = (stats->avg_bits_with_overhead - stats->avg_bits) * weights;
        s.has_importance = stats->has_importance != 0;
        s.importance_min = stats->importance_min;
        s.importance_max = stats->importance_max;
        s.importance_mean = stats->importance_mean;
        write_text(mixed_stats_to_json(s).dump(), buf, cap, needed);
    });
}

}  // extern "C"
