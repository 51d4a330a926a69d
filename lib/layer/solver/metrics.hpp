#pragma once

#include "core/backend.hpp"
#include "core/matrix.hpp"

#include <cstdint>
#include <vector>

namespace surgeon {

// tr(ΔW H ΔWᵀ) / tr(W H Wᵀ), ΔW = w − w_hat, with two GEMMs. Columns flagged in
// `inactive` (nullable; one flag per column: inputs that are always zero) count as zero in
// w and w_hat, as their zero rows and columns of the true H make them count; a solver's
// copy of H, which holds 1 on their diagonal, then gives the same value as H itself.
// Throws SURGEON_ERR_NUMERIC when either trace is negative beyond fp32 rounding ("H is not
// positive semidefinite"), not finite, or tr(W H Wᵀ) is zero.
double relative_reconstruction_error(Backend& backend, const Matrix& h, ConstMatView w,
                                     ConstMatView w_hat, const std::vector<uint8_t>* inactive = nullptr);

// tr(A H Aᵀ) for a packed A.
double hessian_norm(Backend& backend, const Matrix& h, const Matrix& a);

}  // namespace surgeon
