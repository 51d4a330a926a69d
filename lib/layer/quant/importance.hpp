// Per-row (output channel) importance for mixed precision, from five signals of the
// layer's weight W (rows × cols) and its inputs' per-column statistics:
//   activation  A_i = mean_j |W_ij| · E|x_j|          (AWQ-style salience of the row)
//   hessian     S_i = mean_j W_ij² / [H⁻¹]_jj          (OBS saliency, diag of H⁻¹)
//   weight      M_i = mean_j |W_ij|
//   output      O_i = sqrt(Σ_j W_ij² · E[x_j²])        (RMS of the row's output, x_j independent)
//   variance    V_i = sqrt(Σ_j W_ij² · Var[x_j])       (spread of the row's output)
// Each signal is divided by its mean over rows (mean 1: scale-free, ratios kept, so a row
// twice as important as another stays so). The score is Σ_s w_s·ŝ_s / Σ_s w_s over the
// signals with weight > 0 that have data (a Hessian built from a finished matrix has no
// first moments: activation and variance are then unavailable and left out).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/context.hpp"
#include "core/matrix.hpp"
#include "layer/hessian/hessian.hpp"

namespace surgeon {

enum class ImportanceSignal : int { activation = 0, hessian = 1, weight = 2, output = 3, variance = 4 };
constexpr int kImportanceSignals = 5;

const char* signal_name(ImportanceSignal s);

struct ImportanceWeights {
    std::array<double, kImportanceSignals> w{0.25, 0.25, 0.15, 0.25, 0.10};
    double operator[](ImportanceSignal s) const { return w[static_cast<int>(s)]; }
    void validate() const;  // finite, >= 0, not all zero
};

// Per-column inputs of the signals.
struct ColumnStatistics {
    std::vector<float> abs_mean, mean, sq_mean;  // E|x|, E[x], E[x²]
    std::vector<float> inv_hessian_diag;         // [H⁻¹]_jj; may stay empty when unused
    bool first_moments = true;                   // false: E|x| and E[x] are unknown
};

// The activation statistics of an accumulator (no inverse diagonal).
ColumnStatistics column_statistics(const Hessian& h);

// diag(H⁻¹) = column sums of squares of U (H⁻¹ = UᵀU, U upper triangular).
std::vector<float> inverse_diagonal(const Matrix& u);

struct Importance {
    int64_t rows = 0;
    // Normalised per-row signals (mean 1 over rows); all zero where unavailable.
    std::array<std::vector<float>, kImportanceSignals> signals;
    std::array<bool, kImportanceSignals> available{};
    std::vector<float> score;  // combined, rows
};

// w: rows × cols, cols matching the statistics. Needs stats.inv_hessian_diag when the
// Hessian signal has weight > 0 (otherwise it is computed only if present).
Importance compute_importance(const Context& ctx, ConstMatView w, const ColumnStatistics& stats,
                              const ImportanceWeights& weights);

}  // namespace surgeon
