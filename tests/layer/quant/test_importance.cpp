// Importance signals against closed forms, signal removal by zero weights, diag(H⁻¹).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.hpp"
#include "layer/hessian/hessian.hpp"
#include "layer/quant/importance.hpp"
#include "layer/solver/solver.hpp"

namespace surgeon {
namespace {

// 3 × 4 weight, hand-picked column statistics.
struct Small {
    Matrix w{3, 4, std::vector<float>{1, -2, 0, 1, 0.5f, 0.5f, -1, 2, -3, 0, 1, 0}};
    ColumnStatistics stats;
    Small() {
        stats.abs_mean = {1.0f, 0.5f, 2.0f, 0.25f};
        stats.mean = {0.5f, 0.0f, -1.0f, 0.0f};
        stats.sq_mean = {2.0f, 1.0f, 5.0f, 0.5f};
        stats.inv_hessian_diag = {0.5f, 1.0f, 0.25f, 2.0f};
    }
};

std::vector<double> normalised(std::vector<double> v) {
    double mean = 0;
    for (double x : v) mean += x / v.size();
    for (double& x : v) x /= mean;
    return v;
}

TEST(Importance, SignalsMatchClosedForms) {
    Small s;
    ImportanceWeights wts;
    const Importance imp = compute_importance(*default_context(), s.w.view(), s.stats, wts);
    std::vector<double> act, hes, mag, out, var;
    for (int64_t i = 0; i < 3; ++i) {
        double a = 0, h = 0, m = 0, o = 0, v = 0;
        for (int64_t j = 0; j < 4; ++j) {
            const double x = s.w(i, j);
            a += std::fabs(x) * s.stats.abs_mean[j] / 4;
            h += x * x / s.stats.inv_hessian_diag[j] / 4;
            m += std::fabs(x) / 4;
            o += x * x * s.stats.sq_mean[j];
            v += x * x * (s.stats.sq_mean[j] - s.stats.mean[j] * s.stats.mean[j]);
        }
        act.push_back(a);
        hes.push_back(h);
        mag.push_back(m);
        out.push_back(std::sqrt(o));
        var.push_back(std::sqrt(v));
    }
    const std::vector<std::vector<double>> expect = {normalised(act), normalised(hes), normalised(mag),
                                                     normalised(out), normalised(var)};
    for (int sig = 0; sig < kImportanceSignals; ++sig) {
        EXPECT_TRUE(imp.available[sig]);
        for (int i = 0; i < 3; ++i) EXPECT_NEAR(imp.signals[sig][i], expect[sig][i], 1e-5) << sig << " " << i;
    }
    for (int i = 0; i < 3; ++i) {
        double score = 0;
        for (int sig = 0; sig < kImportanceSignals; ++sig) score += wts.w[sig] * expect[sig][i];
        EXPECT_NEAR(imp.score[i], score, 1e-5);  // default weights sum to 1
    }
}

TEST(Importance, ZeroWeightRemovesASignal) {
    Small s;
    ImportanceWeights only_weight;
    only_weight.w = {0, 0, 1, 0, 0};
    const Importance a = compute_importance(*default_context(), s.w.view(), s.stats, only_weight);
    for (int i = 0; i < 3; ++i) EXPECT_FLOAT_EQ(a.score[i], a.signals[2][i]);

    // Without the activation signal, changing E|x| changes nothing; with it, it does.
    ImportanceWeights no_act;
    no_act.w[0] = 0.0;
    Small t;
    t.stats.abs_mean = {5.0f, 0.1f, 0.1f, 3.0f};
    const Importance b1 = compute_importance(*default_context(), s.w.view(), s.stats, no_act);
    const Importance b2 = compute_importance(*default_context(), t.w.view(), t.stats, no_act);
    const Importance c1 = compute_importance(*default_context(), s.w.view(), s.stats, {});
    const Importance c2 = compute_importance(*default_context(), t.w.view(), t.stats, {});
    double diff_with = 0;
    for (int i = 0; i < 3; ++i) {
        EXPECT_FLOAT_EQ(b1.score[i], b2.score[i]);
        diff_with += std::fabs(c1.score[i] - c2.score[i]);
    }
    EXPECT_GT(diff_with, 1e-3);

    // The Hessian signal needs diag(H⁻¹) only while its weight is > 0.
    Small u;
    u.stats.inv_hessian_diag.clear();
    ImportanceWeights no_hes;
    no_hes.w[1] = 0.0;
    EXPECT_NO_THROW(compute_importance(*default_context(), u.w.view(), u.stats, no_hes));
    EXPECT_THROW(compute_importance(*default_context(), u.w.view(), u.stats, {}), Error);
    ImportanceWeights none;
    none.w = {0, 0, 0, 0, 0};
    EXPECT_THROW(compute_importance(*default_context(), s.w.view(), s.stats, none), Error);
}

TEST(Importance, HessianFromMatrixHasNoFirstMoments) {
    const int64_t n = 8;
    std::vector<float> h(n * n, 0.0f);
    for (int64_t i = 0; i < n; ++i) h[i * n + i] = 1.0f + i;
    Hessian acc(default_context(), n);
    acc.assign_matrix(h.data(), n, 10);
    ColumnStatistics st = column_statistics(acc);
    EXPECT_FALSE(st.first_moments);
    st.inv_hessian_diag.assign(n, 1.0f);
    Matrix w(4, n, 1.0f);
    w(1, 2) = 3.0f;
    const Importance imp = compute_importance(*default_context(), w.view(), st, {});
    EXPECT_FALSE(imp.available[0]);
    EXPECT_FALSE(imp.available[4]);
    EXPECT_TRUE(imp.available[3]);
    ImportanceWeights act_only;
    act_only.w = {1, 0, 0, 0, 0};
    EXPECT_THROW(compute_importance(*default_context(), w.view(), st, act_only), Error);
}

TEST(Importance, InverseDiagonalFromTheSolverFactor) {
    const int64_t n = 24, tokens = 200;
    std::mt19937 rng(2);
    std::normal_distribution<float> g;
    std::vector<float> x(tokens * n);
    for (float& v : x) v = g(rng);
    for (int64_t t = 0; t < tokens; ++t) x[t * n + 3] += 2.0f * x[t * n + 5];  // correlation
    Hessian acc(default_context(), n);
    acc.add(x.data(), tokens, n);
    Solver solver(default_context(), acc, 0.0, 128);
    const std::vector<float> d = inverse_diagonal(solver.inverse_factor());
    // Independent reference: Gauss-Jordan inverse in double.
    Matrix hm = acc.matrix();
    std::vector<double> a(n * 2 * n, 0.0);
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < n; ++j) a[i * 2 * n + j] = hm(i, j);
        a[i * 2 * n + n + i] = 1.0;
    }
    for (int64_t c = 0; c < n; ++c) {
        const double p = a[c * 2 * n + c];
        for (int64_t j = 0; j < 2 * n; ++j) a[c * 2 * n + j] /= p;
        for (int64_t r = 0; r < n; ++r)
            if (r != c) {
                const double f = a[r * 2 * n + c];
                for (int64_t j = 0; j < 2 * n; ++j) a[r * 2 * n + j] -= f * a[c * 2 * n + j];
            }
    }
    for (int64_t j = 0; j < n; ++j) EXPECT_NEAR(d[j], a[j * 2 * n + n + j], 1e-3 * a[j * 2 * n + n + j]);
}

}  // namespace
}  // namespace surgeon
