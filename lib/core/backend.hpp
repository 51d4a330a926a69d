// The compute seam: the heavy dense kernels the algorithms need, behind one interface
// selected per call (never per element). The CPU backend uses OpenBLAS/LAPACKE; a CUDA
// backend (SURGEON_CUDA) implements the same operations on the device without any change
// to the algorithms or to the C API.
#pragma once

#include <cstdint>

#include "core/context.hpp"

namespace surgeon {

class Backend {
public:
    virtual ~Backend() = default;
    virtual const char* name() const = 0;

    // c (n × n, row-major, upper triangle) += alpha · xᵀx, x is k × n with leading dim ldx.
    virtual void syrk_upper(const float* x, int64_t k, int64_t n, int64_t ldx, float alpha,
                            float* c) = 0;

    // c (m × n, ldc) = beta · c + alpha · a (m × k, lda) · b (k × n, ldb). All row-major.
    virtual void gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                      int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                      int64_t ldc) = 0;

    // In place: h (n × n, symmetric, row-major) becomes U, the upper Cholesky factor of
    // h⁻¹ (h⁻¹ = UᵀU), with zeros below the diagonal. Returns false when h is not
    // positive definite (h is then clobbered).
    virtual bool upper_cholesky_of_inverse(float* h, int64_t n) = 0;
};

Backend& cpu_backend();

// The backend for a context: the CPU one unless a device backend is built and selected.
Backend& backend_for(const Context& ctx);

}  // namespace surgeon
