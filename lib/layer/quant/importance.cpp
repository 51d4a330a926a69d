#include "layer/quant/importance.hpp"

#include <cmath>
#include <string>

#include "core/checks.hpp"
#include "core/names.hpp"
#include "core/parallel.hpp"

namespace surgeon {
namespace {

bool all_zero(const std::vector<float>& v) {
    for (float x : v)
        if (x != 0.0f) return false;
    return true;
}

}  // namespace

const char* signal_name(ImportanceSignal s) {
    static constexpr Named<ImportanceSignal> kSignals[] = {
        {ImportanceSignal::activation, "activation"}, {ImportanceSignal::hessian, "hessian"},
        {ImportanceSignal::weight, "weight"},         {ImportanceSignal::output, "output"},
        {ImportanceSignal::variance, "variance"}};
    return name_of(kSignals, s);
}

void ImportanceWeights::validate() const {
    double sum = 0.0;
    for (int s = 0; s < kImportanceSignals; ++s) {
        require_arg(std::isfinite(w[s]) && w[s] >= 0.0,
                    std::string("importance weight of signal ") +
                        signal_name(static_cast<ImportanceSignal>(s)) + " must be finite and >= 0, got " +
                        std::to_string(w[s]));
        sum += w[s];
    }
    require_arg(sum > 0.0, "every importance weight is zero");
}

ColumnStatistics column_statistics(const Hessian& h) {
    ColumnStatistics s;
    const size_t n = static_cast<size_t>(h.cols());
    s.abs_mean.resize(n);
    s.mean.resize(n);
    s.sq_mean.resize(n);
    h.stats(s.abs_mean.data(), s.mean.data(), s.sq_mean.data());
    // An accumulator built from a finished matrix knows only E[x²]: E|x| is then 0
    // although E[x²] > 0, which no real data can give.
    s.first_moments = !(all_zero(s.abs_mean) && !all_zero(s.sq_mean));
    return s;
}

std::vector<float> inverse_diagonal(const Matrix& u) {
    std::vector<double> acc(static_cast<size_t>(u.cols), 0.0);
    for (int64_t k = 0; k < u.rows; ++k) {
        const float* row = u.row(k);
        for (int64_t j = k; j < u.cols; ++j) acc[j] += static_cast<double>(row[j]) * row[j];
    }
    return std::vector<float>(acc.begin(), acc.end());
}

Importance compute_importance(const Context& ctx, ConstMatView w, const ColumnStatistics& stats,
                              const ImportanceWeights& weights) {
    weights.validate();
    require_not_null(w.data, "weight");
    const int64_t rows = w.rows, cols = w.cols;
    require_shape(rows >= 1 && cols >= 1, "weight is empty");
    require_shape(static_cast<int64_t>(stats.sq_mean.size()) == cols &&
                      static_cast<int64_t>(stats.abs_mean.size()) == cols &&
                      static_cast<int64_t>(stats.mean.size()) == cols,
                  "weight has " + std::to_string(cols) + " columns, the statistics " +
                      std::to_string(stats.sq_mean.size()));
    const bool have_inv = !stats.inv_hessian_diag.empty();
    require_shape(!have_inv || static_cast<int64_t>(stats.inv_hessian_diag.size()) == cols,
                  "inverse Hessian diagonal has the wrong length");
    require_arg(have_inv || weights[ImportanceSignal::hessian] == 0.0,
                "the Hessian signal has weight > 0 but no diag(H^-1) was given");
    require_finite(w.data, rows, cols, w.ld, "weight");

    // Per-column factors: variance and 1/[H⁻¹]_jj.
    std::vector<float> var(static_cast<size_t>(cols)), inv_d(static_cast<size_t>(cols), 0.0f);
    for (int64_t j = 0; j < cols; ++j) {
        var[j] = std::max(0.0f, stats.sq_mean[j] - stats.mean[j] * stats.mean[j]);
        if (have_inv && stats.inv_hessian_diag[j] > 0.0f) inv_d[j] = 1.0f / stats.inv_hessian_diag[j];
    }
    Importance imp;
    imp.rows = rows;
    for (auto& s : imp.signals) s.assign(static_cast<size_t>(rows), 0.0f);
    const double inv_cols = 1.0 / static_cast<double>(cols);
    parallel_for(ctx.effective_threads(), rows, [&](int64_t r0, int64_t r1, int) {
        for (int64_t i = r0; i < r1; ++i) {
            const float* row = w.row(i);
            double act = 0, hes = 0, mag = 0, out = 0, vr = 0;
            for (int64_t j = 0; j < cols; ++j) {
                const double a = std::fabs(row[j]), sq = a * a;
                act += a * stats.abs_mean[j];
                hes += sq * inv_d[j];
                mag += a;
                out += sq * stats.sq_mean[j];
                vr += sq * var[j];
            }
            imp.signals[0][i] = static_cast<float>(act * inv_cols);
            imp.signals[1][i] = static_cast<float>(hes * inv_cols);
            imp.signals[2][i] = static_cast<float>(mag * inv_cols);
            imp.signals[3][i] = static_cast<float>(std::sqrt(out));
            imp.signals[4][i] = static_cast<float>(std::sqrt(vr));
        }
    });

    double weight_sum = 0.0;
    for (int s = 0; s < kImportanceSignals; ++s) {
        auto& sig = imp.signals[s];
        double mean = 0.0;
        for (float v : sig) mean += v;
        mean /= static_cast<double>(rows);
        const auto which = static_cast<ImportanceSignal>(s);
        bool ok = std::isfinite(mean) && mean > 0.0;
        if (which == ImportanceSignal::hessian) ok = ok && have_inv;
        if (which == ImportanceSignal::activation || which == ImportanceSignal::variance)
            ok = ok && stats.first_moments;
        imp.available[s] = ok;
        if (!ok) {
            std::fill(sig.begin(), sig.end(), 0.0f);
            continue;
        }
        for (float& v : sig) v = static_cast<float>(v / mean);
        weight_sum += weights.w[s];
    }
    require_arg(weight_sum > 0.0,
                "no importance signal with weight > 0 has data (a Hessian built from a matrix "
                "has no activation or variance statistics)");
    imp.score.assign(static_cast<size_t>(rows), 0.0f);
    for (int64_t i = 0; i < rows; ++i) {
        double acc = 0.0;
        for (int s = 0; s < kImportanceSignals; ++s)
            if (imp.available[s]) acc += weights.w[s] * imp.signals[s][i];
        imp.score[i] = static_cast<float>(acc / weight_sum);
    }
    return imp;
}

}  // namespace surgeon
