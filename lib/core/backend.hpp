// The compute seam: every dense kernel the algorithms need (matrix products, the Hessian's
// rank-k update, the factorizations), behind one interface. A backend object is bound to a
// thread count and never changes, so one object serves any number of calling threads; a
// context hands out the backend it selects (backend_for), and the algorithms pass that
// object down instead of calling BLAS themselves. The CPU backend runs a single-threaded
// OpenBLAS linked into the library and parallelises over its own thread count; a CUDA
// backend (SURGEON_CUDA) implements the same operations on the device.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/context.hpp"
#include "core/parallel.hpp"

namespace surgeon {

enum class Trans { no, yes };

class Backend {
public:
    virtual ~Backend() = default;
    virtual const char* name() const = 0;
    // The workers one call of this backend may use on the host.
    virtual int threads() const = 0;
    // The same backend bound to one thread: for calls made from inside workers that
    // already split the work among themselves.
    virtual Backend& single_threaded() = 0;

    // c (n × n, row-major, upper triangle) += alpha · xᵀx, x is k × n with leading dim ldx.
    virtual void syrk_upper(const float* x, int64_t k, int64_t n, int64_t ldx, float alpha,
                            float* c) = 0;

    // c (m × n, ldc) = beta · c + alpha · op(a) · op(b), op(a) m × k, op(b) k × n, all
    // row-major; op(x) is x or xᵀ as ta / tb say (lda, ldb are those of a and b as stored).
    virtual void gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                      float* c, int64_t ldc) = 0;

    // c = beta · c + alpha · a · b without transposes.
    void gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
        gemm(Trans::no, Trans::no, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    // In place: h (n × n, symmetric, row-major) becomes U, the upper Cholesky factor of
    // h⁻¹ (h⁻¹ = UᵀU), with zeros below the diagonal. Returns false when h is not
    // positive definite (h is then clobbered).
    virtual bool upper_cholesky_of_inverse(float* h, int64_t n) = 0;

    // The min(m, n) singular values of a (m × n, row-major, leading dim lda; clobbered),
    // in descending order, into s. Returns false when the decomposition does not converge.
    virtual bool singular_values(float* a, int64_t m, int64_t n, int64_t lda, float* s) = 0;
};

// The CPU backend using `threads` workers (at least 1). The object lives as long as the
// process; equal counts share one.
Backend& cpu_backend(int threads);

// The backend a context selects, bound to the context's thread count.
Backend& backend_for(const Context& ctx);

// Runs body(i, backend) for every i in [0, n): up to be.threads() workers take the next
// index as they finish one, each calling the single-threaded backend; with one worker the
// items get `be` itself, so a lone item still uses every thread.
template <typename Body>  // Body(int64_t i, Backend& backend)
void parallel_for_each(Backend& be, int64_t n, Body&& body) {
    const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(be.threads(), n)));
    Backend& item_be = workers == 1 ? be : be.single_threaded();
    std::atomic<int64_t> next{0};
    parallel_for(workers, workers, [&](int64_t, int64_t, int) {
        for (int64_t i = next++; i < n; i = next++) body(i, item_be);
    });
}

}  // namespace surgeon
