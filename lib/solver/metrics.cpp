#include "solver/metrics.hpp"

#include "core/error.hpp"

namespace surgeon {

double hessian_norm(Backend& backend, const Matrix& h, const Matrix& a) {
    Matrix ah(a.rows, h.cols);
    backend.gemm(a.rows, h.cols, a.cols, 1.0f, a.data.data(), a.cols, h.data.data(), h.cols,
                 0.0f, ah.data.data(), ah.cols);
    double total = 0.0;
    for (size_t i = 0; i < ah.data.size(); ++i) total += static_cast<double>(ah.data[i]) * a.data[i];
    return total;
}

double relative_reconstruction_error(Backend& backend, const Matrix& h, ConstMatView w,
                                     ConstMatView w_hat) {
    require_shape(w.cols == h.cols && w_hat.cols == h.cols && w.rows == w_hat.rows,
                  "weights must be rows x " + std::to_string(h.cols));
    Matrix dense(w.rows, w.cols), delta(w.rows, w.cols);
    for (int64_t r = 0; r < w.rows; ++r)
        for (int64_t c = 0; c < w.cols; ++c) {
            dense(r, c) = w(r, c);
            delta(r, c) = w(r, c) - w_hat(r, c);
        }
    const double denom = hessian_norm(backend, h, dense);
    require(denom > 0.0, SURGEON_ERR_NUMERIC, "tr(W H Wᵀ) is zero: the error is undefined");
    return hessian_norm(backend, h, delta) / denom;
}

}  // namespace surgeon
