#pragma once

#include "core/backend.hpp"
#include "core/matrix.hpp"

namespace surgeon {

// tr(ΔW H ΔWᵀ) / tr(W H Wᵀ), ΔW = w − w_hat, with two GEMMs.
double relative_reconstruction_error(Backend& backend, const Matrix& h, ConstMatView w,
                                     ConstMatView w_hat);

// tr(A H Aᵀ) for a packed A.
double hessian_norm(Backend& backend, const Matrix& h, const Matrix& a);

}  // namespace surgeon
