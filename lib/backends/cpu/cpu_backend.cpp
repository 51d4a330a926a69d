// CPU backend: OpenBLAS level-3 kernels and LAPACKE factorizations.
#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <vector>

#include "core/backend.hpp"

namespace surgeon {
namespace {

class CpuBackend final : public Backend {
public:
    const char* name() const override { return "cpu"; }

    void syrk_upper(const float* x, int64_t k, int64_t n, int64_t ldx, float alpha,
                    float* c) override {
        if (k == 0 || n == 0) return;
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<blasint>(n),
                    static_cast<blasint>(k), alpha, x, static_cast<blasint>(ldx), 1.0f, c,
                    static_cast<blasint>(n));
    }

    void gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc) override {
        if (m == 0 || n == 0) return;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(m),
                    static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
                    static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c,
                    static_cast<blasint>(ldc));
    }

    // With J the exchange matrix: JhJ = LLᵀ gives h⁻¹ = (J L⁻¹ J)ᵀ (J L⁻¹ J), and
    // U = J L⁻¹ J is upper triangular — one potrf and one trtri (2n³/3 flops) instead of
    // the reference's potrf + potri + potrf (n³).
    bool upper_cholesky_of_inverse(float* h, int64_t n) override {
        const size_t total = static_cast<size_t>(n) * static_cast<size_t>(n);
        std::reverse(h, h + total);  // row-major JhJ is h's memory reversed
        // Row-major lower == column-major upper on the same memory (the matrix is
        // symmetric), so no transposing copies are needed.
        const lapack_int ln = static_cast<lapack_int>(n);
        if (LAPACKE_spotrf(LAPACK_COL_MAJOR, 'U', ln, h, ln) != 0) return false;
        if (LAPACKE_strtri(LAPACK_COL_MAJOR, 'U', 'N', ln, h, ln) != 0) return false;
        // h's row-major lower triangle now holds L⁻¹; U[i][j] = L⁻¹[n-1-i][n-1-j], i.e.
        // reversing the memory again maps the lower triangle onto the upper one.
        std::reverse(h, h + total);
        for (int64_t i = 1; i < n; ++i) std::fill(h + i * n, h + i * n + i, 0.0f);
        return true;
    }
};

}  // namespace

Backend& cpu_backend() {
    static CpuBackend backend;
    return backend;
}

#ifndef SURGEON_HAVE_CUDA
Backend& backend_for(const Context&) { return cpu_backend(); }
#endif

}  // namespace surgeon
