// Shared helpers of the Hessian tests: owning handles, random data and a naive
// double-precision reference of H = 2/n · Σ xᵀx and of the column statistics.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "surgeon/surgeon.h"

namespace hessian_test {

struct HessianDeleter {
    void operator()(surgeon_hessian* h) const { surgeon_hessian_free(h); }
};
using HessianPtr = std::unique_ptr<surgeon_hessian, HessianDeleter>;

inline HessianPtr new_hessian(int64_t cols) {
    surgeon_hessian* h = nullptr;
    EXPECT_EQ(surgeon_hessian_new(&h, nullptr, cols), SURGEON_OK) << surgeon_last_error();
    return HessianPtr(h);
}

// Activations with per-column scales and a shared component, so H is dense and its
// entries span a few orders of magnitude.
inline std::vector<float> random_activations(int64_t rows, int64_t cols, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r) {
        const float shared = g(rng);
        for (int64_t c = 0; c < cols; ++c)
            x[r * cols + c] = (0.5f + 0.05f * static_cast<float>(c % 20)) * g(rng) +
                              0.3f * shared + (c % 7 == 0 ? 0.2f : 0.0f);
    }
    return x;
}

inline std::vector<float> copy_h(const surgeon_hessian* h) {
    int64_t cols = 0;
    EXPECT_EQ(surgeon_hessian_cols(h, &cols), SURGEON_OK);
    std::vector<float> out(static_cast<size_t>(cols * cols), -1.0f);
    EXPECT_EQ(surgeon_hessian_copy(h, out.data(), 0), SURGEON_OK) << surgeon_last_error();
    return out;
}

inline int64_t samples_of(const surgeon_hessian* h) {
    int64_t n = -1;
    EXPECT_EQ(surgeon_hessian_samples(h, &n), SURGEON_OK);
    return n;
}

struct Stats {
    std::vector<float> abs_mean, mean, sq_mean;
};

inline Stats stats_of(const surgeon_hessian* h, int64_t cols) {
    Stats s{std::vector<float>(cols), std::vector<float>(cols), std::vector<float>(cols)};
    EXPECT_EQ(surgeon_hessian_stats(h, s.abs_mean.data(), s.mean.data(), s.sq_mean.data()),
              SURGEON_OK);
    return s;
}

// The column statistics of `a` equal those of `expected` to 1e-6 relative (the mean
// relative to the mean magnitude, since a mean may cancel to ~0).
inline void expect_stats_near(const Stats& a, const Stats& expected) {
    for (size_t c = 0; c < expected.abs_mean.size(); ++c) {
        EXPECT_NEAR(a.abs_mean[c], expected.abs_mean[c], 1e-6 * expected.abs_mean[c]) << "column " << c;
        EXPECT_NEAR(a.mean[c], expected.mean[c], 1e-6 * expected.abs_mean[c]) << "column " << c;
        EXPECT_NEAR(a.sq_mean[c], expected.sq_mean[c], 1e-6 * expected.sq_mean[c]) << "column " << c;
    }
}

// H[i][j] of the naive double-precision formula over rows x (rows × cols, packed).
inline std::vector<double> naive_hessian(const std::vector<float>& x, int64_t rows, int64_t cols) {
    std::vector<double> h(static_cast<size_t>(cols * cols), 0.0);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < cols; ++i) {
            const double xi = x[r * cols + i];
            for (int64_t j = 0; j < cols; ++j) h[i * cols + j] += xi * x[r * cols + j];
        }
    for (double& v : h) v *= 2.0 / static_cast<double>(rows);
    return h;
}

// Entry-wise comparison scaled by the diagonal: |a_ij - b_ij| <= tol · sqrt(b_ii b_jj), the
// natural scale of an entry of a Gram matrix (off-diagonal entries may cancel to ~0).
template <typename A, typename B>
void expect_hessian_near(const std::vector<A>& a, const std::vector<B>& b, int64_t cols,
                         double tol) {
    double worst = 0.0;
    for (int64_t i = 0; i < cols; ++i)
        for (int64_t j = 0; j < cols; ++j) {
            const double scale = std::sqrt(static_cast<double>(b[i * cols + i]) *
                                           static_cast<double>(b[j * cols + j]));
            const double err = std::fabs(static_cast<double>(a[i * cols + j]) -
                                         static_cast<double>(b[i * cols + j]));
            worst = std::max(worst, scale > 0 ? err / scale : err);
        }
    EXPECT_LE(worst, tol);
}

}  // namespace hessian_test
