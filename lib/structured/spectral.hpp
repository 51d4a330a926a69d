// Spectral comparison of matrices: singular values (the backend's SVD) and the Kolmogorov–Smirnov
// distance between the empirical distributions of two spectra.
#pragma once

#include <vector>

#include "core/backend.hpp"
#include "core/matrix.hpp"

namespace surgeon::structured {

// Singular values of a (rows × cols), descending.
std::vector<float> singular_values(Backend& be, const Matrix& a);

// sup_x |F_a(x) − F_b(x)| of the empirical CDFs of two samples (any sizes ≥ 1).
double ks_distance(std::vector<float> a, std::vector<float> b);

// KS distance between the spectra of a matrix and a pruned version of it.
inline double spectral_distance(Backend& be, const Matrix& original, const Matrix& pruned) {
    return ks_distance(singular_values(be, original), singular_values(be, pruned));
}

}  // namespace surgeon::structured
