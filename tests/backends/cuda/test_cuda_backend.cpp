// The CUDA backend against the CPU backend on random matrices, with a device-work
// threshold of 0 so every call really runs on the device. Odd sizes and padded leading
// dimensions catch row-/column-major mix-ups.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "core/backend.hpp"
#include "core/context.hpp"
#include "backends/cuda/cuda_backend.hpp"

namespace surgeon {
namespace {

class CudaBackendTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
        device_ = make_cuda_backend(0.0, cpu_backend(1));
        ASSERT_NE(device_, nullptr);
    }
    std::vector<float> random(size_t count, float scale = 1.0f) {
        std::uniform_real_distribution<float> dist(-scale, scale);
        std::vector<float> v(count);
        for (float& x : v) x = dist(rng_);
        return v;
    }
    // x (k × n)ᵀx / k + n·I: symmetric positive definite and well conditioned.
    std::vector<float> spd(int64_t n, int64_t k) {
        const std::vector<float> x = random(static_cast<size_t>(k * n));
        std::vector<float> h(static_cast<size_t>(n * n), 0.0f);
        cpu_backend(1).syrk_upper(x.data(), k, n, n, 1.0f / static_cast<float>(k), h.data());
        for (int64_t i = 0; i < n; ++i) {
            h[i * n + i] += 0.1f;
            for (int64_t j = 0; j < i; ++j) h[i * n + j] = h[j * n + i];
        }
        return h;
    }
    static float max_abs(const std::vector<float>& v) {
        float m = 0.0f;
        for (float x : v) m = std::max(m, std::fabs(x));
        return m;
    }

    std::mt19937 rng_{20240607};
    std::unique_ptr<Backend> device_;
};

TEST_F(CudaBackendTest, NamesItself) {
    EXPECT_STREQ(device_->name(), "cuda");
    Context ctx;
    EXPECT_STREQ(backend_for(ctx).name(), "cpu");  // the CPU unless the context selects the device
    ctx.device = Device::cuda;
    ctx.threads = 3;
    EXPECT_STREQ(backend_for(ctx).name(), "cuda");
    EXPECT_EQ(backend_for(ctx).threads(), 3);
}

TEST_F(CudaBackendTest, GemmMatchesCpuWithStridesAndBeta) {
    struct Shape { int64_t m, n, k, pad; float alpha, beta; };
    for (const Shape s : {Shape{1, 1, 1, 0, 1.0f, 0.0f}, Shape{37, 53, 71, 3, 0.5f, 2.0f},
                          Shape{256, 129, 300, 0, -1.0f, 1.0f}, Shape{513, 200, 64, 7, 2.0f, 0.0f}}) {
        const int64_t lda = s.k + s.pad, ldb = s.n + s.pad, ldc = s.n + 2 * s.pad;
        const std::vector<float> a = random(static_cast<size_t>(s.m * lda));
        const std::vector<float> b = random(static_cast<size_t>(s.k * ldb));
        std::vector<float> c_cpu = random(static_cast<size_t>(s.m * ldc));
        std::vector<float> c_gpu = c_cpu;
        cpu_backend(1).gemm(s.m, s.n, s.k, s.alpha, a.data(), lda, b.data(), ldb, s.beta,
                           c_cpu.data(), ldc);
        device_->gemm(s.m, s.n, s.k, s.alpha, a.data(), lda, b.data(), ldb, s.beta,
                      c_gpu.data(), ldc);
        // Entries are sums of k products of |x| <= 1: fp32 error grows like sqrt(k)·eps.
        const float tol = 1e-5f * std::sqrt(static_cast<float>(s.k)) * (1.0f + max_abs(c_cpu));
        for (int64_t i = 0; i < s.m; ++i)
            for (int64_t j = 0; j < ldc; ++j) {
                const float expected = c_cpu[i * ldc + j], got = c_gpu[i * ldc + j];
                // Padding columns (j >= n) must be untouched, hence equal.
                ASSERT_NEAR(got, expected, j < s.n ? tol : 0.0f)
                    << s.m << "x" << s.n << "x" << s.k << " at " << i << "," << j;
            }
    }
}

TEST_F(CudaBackendTest, SyrkMatchesCpuAndLeavesLowerTriangle) {
    for (const auto [k, n, pad] : {std::array<int64_t, 3>{5, 1, 0},
                                   std::array<int64_t, 3>{300, 97, 5},
                                   std::array<int64_t, 3>{64, 512, 0}}) {
        const int64_t ldx = n + pad;
        const std::vector<float> x = random(static_cast<size_t>(k * ldx));
        std::vector<float> c_cpu = random(static_cast<size_t>(n * n));
        std::vector<float> c_gpu = c_cpu;
        cpu_backend(1).syrk_upper(x.data(), k, n, ldx, 0.75f, c_cpu.data());
        device_->syrk_upper(x.data(), k, n, ldx, 0.75f, c_gpu.data());
        const float tol = 1e-5f * std::sqrt(static_cast<float>(k)) * (1.0f + max_abs(c_cpu));
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j)
                ASSERT_NEAR(c_gpu[i * n + j], c_cpu[i * n + j], j >= i ? tol : 0.0f)
                    << "k " << k << " n " << n << " at " << i << "," << j;
    }
}

TEST_F(CudaBackendTest, UpperCholeskyOfInverseMatchesCpuAndInverts) {
    for (const int64_t n : {1, 2, 97, 384}) {
        const std::vector<float> h = spd(n, 2 * n + 8);
        std::vector<float> u_cpu = h, u_gpu = h;
        ASSERT_TRUE(cpu_backend(1).upper_cholesky_of_inverse(u_cpu.data(), n));
        ASSERT_TRUE(device_->upper_cholesky_of_inverse(u_gpu.data(), n));
        const float scale = max_abs(u_cpu);
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) {
                if (j < i) {
                    ASSERT_EQ(u_gpu[i * n + j], 0.0f) << "below the diagonal";
                }
                ASSERT_NEAR(u_gpu[i * n + j], u_cpu[i * n + j], 1e-4f * scale)
                    << "n " << n << " at " << i << "," << j;
            }
        // Independently of the CPU: (UᵀU)·h = I, computed in double.
        std::vector<double> inverse(static_cast<size_t>(n * n), 0.0);
        for (int64_t q = 0; q < n; ++q)
            for (int64_t i = q; i < n; ++i)
                for (int64_t p = q; p < n; ++p)
                    inverse[i * n + p] += static_cast<double>(u_gpu[q * n + i]) * u_gpu[q * n + p];
        double worst = 0.0;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) {
                double v = 0.0;
                for (int64_t p = 0; p < n; ++p) v += inverse[i * n + p] * h[p * n + j];
                worst = std::max(worst, std::fabs(v - (i == j ? 1.0 : 0.0)));
            }
        EXPECT_LT(worst, 1e-3) << "n " << n;
    }
}

TEST_F(CudaBackendTest, RejectsIndefiniteMatrixLikeCpu) {
    const int64_t n = 64;
    std::vector<float> h = spd(n, 2 * n);
    h[10 * n + 10] = -1.0f;
    std::vector<float> u_cpu = h, u_gpu = h;
    EXPECT_FALSE(cpu_backend(1).upper_cholesky_of_inverse(u_cpu.data(), n));
    EXPECT_FALSE(device_->upper_cholesky_of_inverse(u_gpu.data(), n));
}

TEST_F(CudaBackendTest, SmallCallsStayOnCpuBitForBit) {
    const std::unique_ptr<Backend> hybrid = make_cuda_backend(1e12, cpu_backend(1));
    const std::vector<float> a = random(12 * 9), b = random(9 * 7);
    std::vector<float> c_cpu(12 * 7, 0.0f), c_hybrid(12 * 7, 0.0f);
    cpu_backend(1).gemm(12, 7, 9, 1.0f, a.data(), 9, b.data(), 7, 0.0f, c_cpu.data(), 7);
    hybrid->gemm(12, 7, 9, 1.0f, a.data(), 9, b.data(), 7, 0.0f, c_hybrid.data(), 7);
    EXPECT_EQ(c_cpu, c_hybrid);
}

}  // namespace
}  // namespace surgeon
