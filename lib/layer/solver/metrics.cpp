#include "layer/solver/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"

namespace surgeon {
namespace {

constexpr int64_t kChunkRows = 256;  // rows per GEMM: bounded extra memory
constexpr double kRoundingTolerance = 1e-6;  // relative to tr(W H Wᵀ)

// tr(A H Aᵀ) where row r of A is produced by fill(r, dst).
template <typename Fill>
double hessian_quadratic(Backend& backend, const Matrix& h, int64_t rows, Fill fill) {
    const int64_t n = h.cols;
    Matrix a(std::min(rows, kChunkRows), n), ah(a.rows, n);
    double total = 0.0;
    for (int64_t r0 = 0; r0 < rows; r0 += kChunkRows) {
        const int64_t m = std::min(kChunkRows, rows - r0);
        for (int64_t r = 0; r < m; ++r) fill(r0 + r, a.row(r));
        backend.gemm(m, n, n, 1.0f, a.data.data(), n, h.data.data(), n, 0.0f, ah.data.data(), n);
        for (int64_t i = 0; i < m * n; ++i) total += static_cast<double>(ah.data[i]) * a.data[i];
    }
    return total;
}

}  // namespace

double hessian_norm(Backend& backend, const Matrix& h, const Matrix& a) {
    return hessian_quadratic(backend, h, a.rows, [&](int64_t r, float* dst) {
        std::copy(a.row(r), a.row(r) + a.cols, dst);
    });
}

double relative_reconstruction_error(Backend& backend, const Matrix& h, ConstMatView w,
                                     ConstMatView w_hat, const std::vector<uint8_t>* inactive) {
    require_shape(w.cols == h.cols && w_hat.cols == h.cols && w.rows == w_hat.rows,
                  "weights must be rows x " + std::to_string(h.cols));
    require_shape(!inactive || static_cast<int64_t>(inactive->size()) == h.cols,
                  "one inactive flag per column expected");
    auto clear_inactive = [&](float* dst) {
        if (inactive)
            for (int64_t c = 0; c < w.cols; ++c)
                if ((*inactive)[static_cast<size_t>(c)]) dst[c] = 0.0f;
    };
    const double denom = hessian_quadratic(backend, h, w.rows, [&](int64_t r, float* dst) {
        std::copy(w.row(r), w.row(r) + w.cols, dst);
        clear_inactive(dst);
    });
    const std::string indefinite = "H is not positive semidefinite: ";
    require(std::isfinite(denom), SURGEON_ERR_NUMERIC, "tr(W H Wᵀ) is not finite");
    require(denom >= 0.0, SURGEON_ERR_NUMERIC, indefinite + "tr(W H Wᵀ) = " + std::to_string(denom));
    require(denom > 0.0, SURGEON_ERR_NUMERIC, "tr(W H Wᵀ) is zero: the error is undefined");
    const double num = hessian_quadratic(backend, h, w.rows, [&](int64_t r, float* dst) {
        for (int64_t c = 0; c < w.cols; ++c) dst[c] = w(r, c) - w_hat(r, c);
        clear_inactive(dst);
    });
    require(std::isfinite(num), SURGEON_ERR_NUMERIC, "tr(ΔW H ΔWᵀ) is not finite");
    // fp32 rounding leaves a PSD H's form on a (near-)null direction a little below zero;
    // beyond that, the form is negative and H indefinite.
    require(num >= -kRoundingTolerance * denom, SURGEON_ERR_NUMERIC,
            indefinite + "tr(ΔW H ΔWᵀ) = " + std::to_string(num));
    return std::max(num, 0.0) / denom;
}

}  // namespace surgeon
