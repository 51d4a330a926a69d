// CPU backend: a private copy of OpenBLAS (linked into the library with its symbols
// hidden, so the host's BLAS and its settings are never touched), set to one thread once
// and driven in parallel over the backend's own thread count: a product is split into
// panels of its output and each worker runs the single-threaded kernel on its panel.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "core/backend.hpp"
#include "core/error.hpp"
#include "core/memory_usage.hpp"
#include "core/parallel.hpp"

// LAPACK's Fortran entry points (OpenBLAS carries them); the trailing arguments are the
// lengths of the character arguments, as gfortran passes them.
extern "C" {
void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info, size_t);
void strtri_(const char* uplo, const char* diag, const int* n, float* a, const int* lda,
             int* info, size_t, size_t);
void sgesdd_(const char* jobz, const int* m, const int* n, float* a, const int* lda, float* s,
             float* u, const int* ldu, float* vt, const int* ldvt, float* work,
             const int* lwork, int* iwork, int* info, size_t);
}

namespace surgeon {
namespace {

// Below this many multiply-adds a product runs on the calling thread: starting workers
// costs more than they save.
constexpr double kParallelWork = 1 << 22;
// The smallest panel (rows or columns of the output) a worker is given.
constexpr int64_t kMinPanel = 32;

// OpenBLAS gives each thread that runs a level-3 routine (or a LAPACK routine built on one)
// a work buffer of its own, mapped on the thread's first such call: 128 MiB + one page in
// Debian's build (BUFFER_SIZE of its DYNAMIC_ARCH targets), kept for later calls. When the
// mapping fails, OpenBLAS 0.3.21 retries forever (blas_memory_alloc; later releases give
// up and exit the process). So under an address-space limit (RLIMIT_AS, `ulimit -v`) each
// thread checks the room before its first call and throws SURGEON_ERR_OUT_OF_MEMORY when
// the buffer (plus a margin for the call's own allocations) cannot fit.
constexpr uint64_t kBlasBufferBytes = (uint64_t{128} << 20) + 4096;
constexpr uint64_t kBlasMargin = uint64_t{16} << 20;

void require_blas_buffer() {
    thread_local bool checked = false;
    if (checked) return;
    const std::optional<uint64_t> left = address_space_left();
    if (left && *left < kBlasBufferBytes + kBlasMargin)
        fail(SURGEON_ERR_OUT_OF_MEMORY,
             "out of memory: the address-space limit (ulimit -v) leaves " + format_bytes(*left) +
                 ", and each BLAS thread needs a " + format_bytes(kBlasBufferBytes + kBlasMargin) +
                 " work buffer; raise the limit or use fewer threads");
    checked = true;
}

CBLAS_TRANSPOSE blas_trans(Trans t) { return t == Trans::yes ? CblasTrans : CblasNoTrans; }

void serial_gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                 int64_t ldc) {
    require_blas_buffer();
    cblas_sgemm(CblasRowMajor, blas_trans(ta), blas_trans(tb), static_cast<blasint>(m),
                static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
                static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c,
                static_cast<blasint>(ldc));
}

void serial_syrk_upper(const float* x, int64_t k, int64_t n, int64_t ldx, float alpha,
                       float* c, int64_t ldc) {
    require_blas_buffer();
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<blasint>(n),
                static_cast<blasint>(k), alpha, x, static_cast<blasint>(ldx), 1.0f, c,
                static_cast<blasint>(ldc));
}

// Workers worth using for `work` multiply-adds over `extent` rows or columns of output.
int workers_for(int threads, double work, int64_t extent) {
    if (work < kParallelWork) return 1;
    return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, extent / kMinPanel)));
}

// The library's OpenBLAS copy runs every call on the calling thread.
void make_blas_single_threaded() {
    static std::once_flag once;
    std::call_once(once, [] { openblas_set_num_threads(1); });
}

// Cuts of [0, n) into `parts` ranges of equal work when the work of index i is
// proportional to (n − i)^(power − 1) (power 2: the rows of a triangle from its wide end).
std::vector<int64_t> area_cuts(int64_t n, int parts, int power) {
    std::vector<int64_t> cut(static_cast<size_t>(parts) + 1);
    for (int p = 0; p < parts; ++p) {
        const double left = 1.0 - static_cast<double>(p) / parts;  // share of the work from cut p on
        cut[static_cast<size_t>(p)] = std::clamp<int64_t>(
            n - static_cast<int64_t>(std::llround(static_cast<double>(n) * std::pow(left, 1.0 / power))), 0, n);
    }
    cut[static_cast<size_t>(parts)] = n;
    return cut;
}

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int threads) : threads_(std::max(1, threads)) { make_blas_single_threaded(); }

    const char* name() const override { return "cpu"; }
    int threads() const override { return threads_; }
    Backend& single_threaded() override { return cpu_backend(1); }

    // Row panels of the upper triangle, cut so each holds about the same area: a panel is
    // its diagonal block (syrk) and the rectangle to its right (gemm with xᵀ).
    void syrk_upper(const float* x, int64_t k, int64_t n, int64_t ldx, float alpha,
                    float* c) override {
        if (k == 0 || n == 0) return;
        const int workers = workers_for(threads_, 0.5 * static_cast<double>(n) * n * k, n);
        const std::vector<int64_t> cut = area_cuts(n, workers, 2);
        parallel_for(workers, workers, [&](int64_t p0, int64_t p1, int) {
            for (int64_t p = p0; p < p1; ++p) {
                const int64_t i0 = cut[static_cast<size_t>(p)], i1 = cut[static_cast<size_t>(p) + 1];
                if (i1 <= i0) continue;
                serial_syrk_upper(x + i0, k, i1 - i0, ldx, alpha, c + i0 * n + i0, n);
                if (i1 < n)
                    serial_gemm(Trans::yes, Trans::no, i1 - i0, n - i1, k, alpha, x + i0, ldx,
                                x + i1, ldx, 1.0f, c + i0 * n + i1, n);
            }
        });
    }

    // Panels of the output's longer side; each element is the same serial dot product
    // whatever the split.
    void gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
              int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc) override {
        if (m == 0 || n == 0) return;
        const double work = static_cast<double>(m) * n * k;
        const bool by_rows = m >= n;
        const int workers = workers_for(threads_, work, by_rows ? m : n);
        if (workers == 1) return serial_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        parallel_for(workers, by_rows ? m : n, [&](int64_t p0, int64_t p1, int) {
            if (by_rows) {
                const float* ap = ta == Trans::no ? a + p0 * lda : a + p0;
                serial_gemm(ta, tb, p1 - p0, n, k, alpha, ap, lda, b, ldb, beta, c + p0 * ldc, ldc);
            } else {
                const float* bp = tb == Trans::no ? b + p0 : b + p0 * ldb;
                serial_gemm(ta, tb, m, p1 - p0, k, alpha, a, lda, bp, ldb, beta, c + p0, ldc);
            }
        });
    }

    // With J the exchange matrix: JhJ = LLᵀ gives h⁻¹ = (J L⁻¹ J)ᵀ (J L⁻¹ J), and
    // U = J L⁻¹ J is upper triangular — a Cholesky factorization and a triangular inverse
    // (2n³/3 flops) instead of the reference's potrf + potri + potrf (n³).
    bool upper_cholesky_of_inverse(float* h, int64_t n) override {
        const size_t total = static_cast<size_t>(n) * static_cast<size_t>(n);
        std::reverse(h, h + total);  // row-major JhJ is h's memory reversed
        const bool ok = n >= kBlockedFactorization && threads_ > 1 ? blocked_lower_inverse(h, n)
                                                                   : lapack_lower_inverse(h, n);
        if (!ok) return false;
        // h's row-major lower triangle now holds L⁻¹; U[i][j] = L⁻¹[n-1-i][n-1-j], i.e.
        // reversing the memory again maps the lower triangle onto the upper one.
        std::reverse(h, h + total);
        for (int64_t i = 1; i < n; ++i) std::fill(h + i * n, h + i * n + i, 0.0f);
        return true;
    }

    // Row-major m × n is column-major n × m: the same singular values.
    bool singular_values(float* a, int64_t m, int64_t n, int64_t lda, float* s) override {
        const int rows = static_cast<int>(n), cols = static_cast<int>(m), ld = static_cast<int>(lda);
        require_blas_buffer();
        const int one = 1;
        int info = 0, lwork = -1;
        float query = 0.0f;
        std::vector<int> iwork(static_cast<size_t>(8 * std::min(m, n)));
        sgesdd_("N", &rows, &cols, a, &ld, s, nullptr, &one, nullptr, &one, &query, &lwork,
                iwork.data(), &info, 1);
        if (info != 0) return false;
        lwork = static_cast<int>(query) + 1;
        std::vector<float> work(static_cast<size_t>(lwork));
        sgesdd_("N", &rows, &cols, a, &ld, s, nullptr, &one, nullptr, &one, work.data(), &lwork,
                iwork.data(), &info, 1);
        return info == 0;
    }

private:
    // Below this order the factorization runs as one serial LAPACK call.
    static constexpr int64_t kBlockedFactorization = 512;
    static constexpr int64_t kFactorBlock = 256;

    // The row-major lower triangle of b (n × n, symmetric) becomes L⁻¹ with b = LLᵀ.
    // Row-major lower == column-major upper on the same memory, so LAPACK's upper
    // routines apply without transposing copies.
    static bool lapack_lower_inverse(float* b, int64_t n) {
        require_blas_buffer();
        const int ln = static_cast<int>(n);
        int info = 0;
        spotrf_("U", &ln, b, &ln, &info, 1);
        if (info != 0) return false;
        strtri_("U", "N", &ln, b, &ln, &info, 1, 1);
        return info == 0;
    }

    // The same with the Cholesky factorization in blocks over the workers: right-looking,
    // serial diagonal blocks, the panel's triangular solve split by rows, the trailing
    // update split into row panels. The triangular inverse stays one LAPACK call: as
    // column panels of L·X = I over the workers (triangular solves) it measured slower
    // on 2 cores than the serial strtri.
    bool blocked_lower_inverse(float* b, int64_t n) const {
        require_blas_buffer();
        for (int64_t k0 = 0; k0 < n; k0 += kFactorBlock) {
            const int64_t k1 = std::min(n, k0 + kFactorBlock), w = k1 - k0, rest = n - k1;
            float* diag = b + k0 * n + k0;
            const int lw = static_cast<int>(w), ld = static_cast<int>(n);
            int info = 0;
            spotrf_("U", &lw, diag, &ld, &info, 1);
            if (info != 0) return false;
            if (rest == 0) break;
            float* panel = b + k1 * n + k0;  // rows k1.., columns k0..k1
            parallel_for(workers_for(threads_, static_cast<double>(rest) * w * w, rest), rest,
                         [&](int64_t r0, int64_t r1, int) {
                             require_blas_buffer();
                             cblas_strsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit,
                                         static_cast<blasint>(r1 - r0), lw, 1.0f, diag, ld, panel + r0 * n, ld);
                         });
            // trailing lower triangle −= panel · panelᵀ, in row panels of equal area (the
            // mirror of the upper triangle's cuts: row i holds i + 1 entries)
            float* trailing = b + k1 * n + k1;
            const int workers = workers_for(threads_, 0.5 * static_cast<double>(rest) * rest * w, rest);
            const std::vector<int64_t> upper = area_cuts(rest, workers, 2);
            std::vector<int64_t> cut(upper.size());
            for (size_t p = 0; p < cut.size(); ++p) cut[p] = rest - upper[upper.size() - 1 - p];
            parallel_for(workers, workers, [&](int64_t p0, int64_t p1, int) {
                for (int64_t p = p0; p < p1; ++p) {
                    const int64_t i0 = cut[static_cast<size_t>(p)], i1 = cut[static_cast<size_t>(p) + 1];
                    if (i1 <= i0) continue;
                    require_blas_buffer();
                    cblas_ssyrk(CblasRowMajor, CblasLower, CblasNoTrans, static_cast<blasint>(i1 - i0), lw,
                                -1.0f, panel + i0 * n, ld, 1.0f, trailing + i0 * n + i0, ld);
                    if (i0 > 0)
                        serial_gemm(Trans::no, Trans::yes, i1 - i0, i0, w, -1.0f, panel + i0 * n, n, panel, n,
                                    1.0f, trailing + i0 * n, n);
                }
            });
        }
        // L⁻¹ in place (LAPACK; a third of the flops).
        const int ln = static_cast<int>(n);
        int info = 0;
        strtri_("U", "N", &ln, b, &ln, &info, 1, 1);
        return info == 0;
    }

    const int threads_;
};

}  // namespace

Backend& cpu_backend(int threads) {
    static std::mutex mutex;
    static std::map<int, std::unique_ptr<CpuBackend>> backends;
    threads = std::max(1, threads);
    std::lock_guard<std::mutex> lock(mutex);
    std::unique_ptr<CpuBackend>& b = backends[threads];
    if (!b) b = std::make_unique<CpuBackend>(threads);
    return *b;
}

#ifndef SURGEON_HAVE_CUDA
Backend& backend_for(const Context& ctx) { return cpu_backend(ctx.effective_threads()); }
#endif

}  // namespace surgeon
