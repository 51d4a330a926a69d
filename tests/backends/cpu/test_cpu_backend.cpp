// The CPU backend's parallel kernels against double-precision references, and the
// threading model: contexts with different thread counts used at once from two threads
// give exactly their serial results, each computing with its own thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "core/backend.hpp"
#include "core/parallel.hpp"
#include "io/llama2c.hpp"
#include "io/tokenizer.hpp"
#include "layer/hessian/hessian.hpp"
#include "layer/solver/solver.hpp"
#include "llama2c_data.hpp"
#include "nn/perplexity.hpp"

using namespace surgeon;

namespace {

std::vector<float> random_values(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> v(n);
    for (float& x : v) x = g(rng);
    return v;
}

// op(x)[i][j] of a row-major matrix stored with leading dimension ld.
double at(const std::vector<float>& x, int64_t ld, Trans t, int64_t i, int64_t j) {
    return t == Trans::no ? x[static_cast<size_t>(i * ld + j)] : x[static_cast<size_t>(j * ld + i)];
}

TEST(CpuBackend, GemmPanelsMatchTheDoubleReferenceForEveryTranspose) {
    const int64_t m = 150, n = 97, k = 300, pad = 3;
    for (Trans ta : {Trans::no, Trans::yes})
        for (Trans tb : {Trans::no, Trans::yes})
            for (int threads : {1, 3}) {
                const int64_t lda = (ta == Trans::no ? k : m) + pad, ldb = (tb == Trans::no ? n : k) + pad;
                const auto a = random_values(static_cast<size_t>((ta == Trans::no ? m : k) * lda), 1);
                const auto b = random_values(static_cast<size_t>((tb == Trans::no ? k : n) * ldb), 2);
                const int64_t ldc = n + pad;
                std::vector<float> c = random_values(static_cast<size_t>(m * ldc), 3);
                const std::vector<float> c0 = c;
                cpu_backend(threads).gemm(ta, tb, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, 2.0f, c.data(), ldc);
                for (int64_t i = 0; i < m; ++i)
                    for (int64_t j = 0; j < n; ++j) {
                        double s = 0.0;
                        for (int64_t p = 0; p < k; ++p) s += at(a, lda, ta, i, p) * at(b, ldb, tb, p, j);
                        const double want = 2.0 * c0[static_cast<size_t>(i * ldc + j)] + 0.5 * s;
                        ASSERT_NEAR(c[static_cast<size_t>(i * ldc + j)], want, 1e-4 * (1.0 + std::fabs(want)))
                            << "threads " << threads << " at " << i << "," << j;
                    }
                for (int64_t i = 0; i < m; ++i)  // padding untouched
                    for (int64_t j = n; j < ldc; ++j)
                        ASSERT_EQ(c[static_cast<size_t>(i * ldc + j)], c0[static_cast<size_t>(i * ldc + j)]);
            }
}

TEST(CpuBackend, SyrkPanelsFillTheUpperTriangleOnly) {
    const int64_t k = 400, n = 203, ldx = n + 5;
    const auto x = random_values(static_cast<size_t>(k * ldx), 4);
    for (int threads : {1, 2, 5}) {
        std::vector<float> c(static_cast<size_t>(n * n), 1.0f);
        cpu_backend(threads).syrk_upper(x.data(), k, n, ldx, 0.25f, c.data());
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) {
                if (j < i) {
                    ASSERT_EQ(c[static_cast<size_t>(i * n + j)], 1.0f);
                    continue;
                }
                double s = 0.0;
                for (int64_t p = 0; p < k; ++p) s += static_cast<double>(x[p * ldx + i]) * x[p * ldx + j];
                const double want = 1.0 + 0.25 * s;
                ASSERT_NEAR(c[static_cast<size_t>(i * n + j)], want, 1e-4 * (1.0 + std::fabs(want)))
                    << "threads " << threads << " at " << i << "," << j;
            }
    }
}

// The blocked factorization (several workers, order >= 512) against the single LAPACK
// call, and against the definition: UᵀU·H = I.
TEST(CpuBackend, BlockedCholeskyOfTheInverseMatchesLapack) {
    const int64_t n = 700, k = 900;
    const auto x = random_values(static_cast<size_t>(k * n), 7);
    std::vector<float> h(static_cast<size_t>(n * n), 0.0f);
    cpu_backend(1).syrk_upper(x.data(), k, n, n, 1.0f / static_cast<float>(k), h.data());
    for (int64_t i = 0; i < n; ++i) {
        h[static_cast<size_t>(i * n + i)] += 0.1f;
        for (int64_t j = 0; j < i; ++j) h[static_cast<size_t>(i * n + j)] = h[static_cast<size_t>(j * n + i)];
    }
    std::vector<float> serial = h, blocked = h;
    ASSERT_TRUE(cpu_backend(1).upper_cholesky_of_inverse(serial.data(), n));
    ASSERT_TRUE(cpu_backend(3).upper_cholesky_of_inverse(blocked.data(), n));
    double worst = 0.0;
    for (size_t i = 0; i < serial.size(); ++i)
        worst = std::max(worst, std::fabs(static_cast<double>(serial[i]) - blocked[i]) / (1.0 + std::fabs(serial[i])));
    EXPECT_LT(worst, 1e-4);
    for (int64_t i = 1; i < n; ++i)
        for (int64_t j = 0; j < i; ++j) ASSERT_EQ(blocked[static_cast<size_t>(i * n + j)], 0.0f);
    for (int64_t i = 0; i < n; i += 97)  // (UᵀU·H)[i][j] on a sample of entries
        for (int64_t j = 0; j < n; j += 89) {
            double v = 0.0;
            for (int64_t m = 0; m < n; ++m) {
                double uu = 0.0;  // (UᵀU)[i][m] = Σ_r U[r][i]·U[r][m]
                for (int64_t r = 0; r <= std::min(i, m); ++r)
                    uu += static_cast<double>(blocked[static_cast<size_t>(r * n + i)]) * blocked[static_cast<size_t>(r * n + m)];
                v += uu * h[static_cast<size_t>(m * n + j)];
            }
            EXPECT_NEAR(v, i == j ? 1.0 : 0.0, 1e-3) << i << "," << j;
        }
    std::vector<float> indefinite = h;
    indefinite[static_cast<size_t>(600 * n + 600)] = -1.0f;
    EXPECT_FALSE(cpu_backend(2).upper_cholesky_of_inverse(indefinite.data(), n));
}

TEST(CpuBackend, SingularValuesOfADiagonalTimesAnOrthogonalMatrix) {
    // a = diag(3, 2, 1) · R (R a rotation in the first two coordinates) padded to 3 × 4.
    const double t = 0.3;
    std::vector<float> a = {static_cast<float>(3 * std::cos(t)), static_cast<float>(-3 * std::sin(t)), 0, 0,
                            static_cast<float>(2 * std::sin(t)), static_cast<float>(2 * std::cos(t)), 0, 0,
                            0, 0, 1, 0};
    std::vector<float> s(3);
    ASSERT_TRUE(cpu_backend(2).singular_values(a.data(), 3, 4, 4, s.data()));
    EXPECT_NEAR(s[0], 3.0f, 1e-5f);
    EXPECT_NEAR(s[1], 2.0f, 1e-5f);
    EXPECT_NEAR(s[2], 1.0f, 1e-5f);
}

TEST(CpuBackend, ObjectsAreBoundToTheirThreadCount) {
    EXPECT_EQ(cpu_backend(3).threads(), 3);
    EXPECT_EQ(&cpu_backend(3), &cpu_backend(3));
    EXPECT_EQ(cpu_backend(0).threads(), 1);
    EXPECT_EQ(cpu_backend(4).single_threaded().threads(), 1);
    Context ctx;
    ctx.threads = 2;
    EXPECT_EQ(backend_for(ctx).threads(), 2);
    EXPECT_STREQ(backend_for(ctx).name(), "cpu");
}

// One solver prune: the layer's pruned weight.
struct PruneRun {
    std::vector<float> w;
    double loss = 0.0;
    int max_workers = 0;
};

PruneRun prune_layer(int threads) {
    auto ctx = std::make_shared<Context>();
    ctx->threads = threads;
    const int64_t rows = 96, cols = 256, tokens = 512;
    const auto x = random_values(static_cast<size_t>(tokens * cols), 5);
    Matrix w(rows, cols, random_values(static_cast<size_t>(rows * cols), 6));
    reset_max_parallel_workers();
    Hessian h(ctx, cols);
    h.add(x.data(), tokens, cols);
    Solver solver(ctx, h, 0.01, 64);
    PruneOptions opt;
    opt.sparsity = 0.5;
    PruneRun r;
    solver.prune(w.view(), opt, nullptr, nullptr, nullptr, &r.loss);
    r.w.assign(w.data.begin(), w.data.end());
    r.max_workers = max_parallel_workers();
    return r;
}

struct PerplexityRun {
    double nll = 0.0;
    int max_workers = 0;
};

PerplexityRun perplexity(int threads) {
    static const model::Model m = model::read_llama2c(surgeon_test::model_file());
    static const model::Tokenizer tok = model::Tokenizer::load(surgeon_test::tokenizer_file(), m.config.vocab_size);
    static const auto seqs =
        model::paragraph_sequences(tok, surgeon_test::read_text(surgeon_test::stories_file()), model::Range{0, 24}, 256);
    Context ctx;
    ctx.threads = threads;
    reset_max_parallel_workers();
    PerplexityRun r;
    r.nll = model::evaluate_sequences(backend_for(ctx), m, seqs).nll;
    r.max_workers = max_parallel_workers();
    return r;
}

TEST(Threading, ConcurrentContextsKeepTheirThreadCountsAndSerialResults) {
    ASSERT_FALSE(surgeon_test::model_file().empty());
    for (const auto& [prune_threads, ppl_threads] : {std::pair<int, int>{1, 2}, {2, 1}}) {
        const PruneRun prune_serial = prune_layer(prune_threads);
        const PerplexityRun ppl_serial = perplexity(ppl_threads);
        EXPECT_EQ(prune_serial.max_workers, prune_threads);
        EXPECT_EQ(ppl_serial.max_workers, ppl_threads);

        PruneRun prune_concurrent;
        PerplexityRun ppl_concurrent;
        std::thread a([&] { prune_concurrent = prune_layer(prune_threads); });
        std::thread b([&] { ppl_concurrent = perplexity(ppl_threads); });
        a.join();
        b.join();
        EXPECT_EQ(prune_concurrent.w, prune_serial.w);
        EXPECT_EQ(prune_concurrent.loss, prune_serial.loss);
        EXPECT_EQ(ppl_concurrent.nll, ppl_serial.nll);
        EXPECT_EQ(prune_concurrent.max_workers, prune_threads);
        EXPECT_EQ(ppl_concurrent.max_workers, ppl_threads);
    }
}

}  // namespace
