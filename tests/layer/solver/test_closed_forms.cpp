// Closed-form properties of the OBS engine (independent of any reference output).
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>
#include <string>

#include "core/backend.hpp"
#include "core/error.hpp"
#include "layer/hessian/hessian.hpp"
#include "layer/prune/baselines.hpp"
#include "layer/quant/rtn.hpp"
#include "layer/solver/metrics.hpp"
#include "layer/solver/solver.hpp"

namespace surgeon {
namespace {

Matrix random_matrix(int64_t rows, int64_t cols, unsigned seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, scale);
    Matrix m(rows, cols);
    for (float& v : m.data) v = g(rng);
    return m;
}

std::unique_ptr<Hessian> identity_hessian(int64_t n, ContextPtr ctx = default_context()) {
    Matrix eye(n, n);
    for (int64_t i = 0; i < n; ++i) eye(i, i) = 1.0f;
    auto h = std::make_unique<Hessian>(std::move(ctx), n);
    h->assign_matrix(eye.data.data(), n, 1);
    return h;
}

std::unique_ptr<Hessian> random_hessian(int64_t n, int64_t tokens, unsigned seed,
                                        ContextPtr ctx = default_context()) {
    Matrix x = random_matrix(tokens, n, seed);
    // Correlate neighbouring inputs so the OBS updates matter.
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t j = 1; j < n; ++j) x(t, j) += 0.5f * x(t, j - 1);
    auto h = std::make_unique<Hessian>(std::move(ctx), n);
    h->add(x.data.data(), tokens, n);
    return h;
}

// With H = I, U = I/√(1+damp): no error propagates, so SparseGPT is magnitude pruning
// inside each 128-column block, and GPTQ is round-to-nearest.
TEST(ClosedForm, SparseGptWithIdentityHessianIsBlockwiseMagnitude) {
    const int64_t rows = 48, cols = 256;
    auto h = identity_hessian(cols);
    Solver solver(default_context(), *h, 0.01, 128);
    Matrix w = random_matrix(rows, cols, 1), expected = w;
    PruneOptions opt;
    opt.sparsity = 0.5;
    solver.prune(w.view(), opt, nullptr, nullptr, nullptr, nullptr);
    for (int64_t c0 = 0; c0 < cols; c0 += 128) {
        Matrix block(rows, 128);
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < 128; ++c) block(r, c) = expected(r, c0 + c);
        prune_magnitude(*default_context(), block.view(), 0.5, 0, 0);
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < 128; ++c) ASSERT_EQ(w(r, c0 + c), block(r, c));
    }
}

TEST(ClosedForm, GptqWithIdentityHessianIsRoundToNearest) {
    auto h = identity_hessian(192);
    Solver solver(default_context(), *h, 0.01, 64);
    for (int64_t group : {0, 32}) {
        QuantConfig q;
        q.bits = 3;
        q.group_size = group;
        Matrix w = random_matrix(40, 192, 2), rtn = w;
        solver.quantize(w.view(), q, nullptr, nullptr);
        quantize_rtn(*default_context(), rtn.view(), q, nullptr);
        for (size_t i = 0; i < w.data.size(); ++i) ASSERT_EQ(w.data[i], rtn.data[i]) << "group " << group;
    }
}

TEST(ClosedForm, JointPruneQuantizeWithZeroSparsityIsGptq) {
    auto h = random_hessian(160, 600, 3);
    Solver solver(default_context(), *h, 0.01, 128);
    QuantConfig q;
    q.bits = 4;
    Matrix a = random_matrix(24, 160, 4), b = a;
    QuantResult qa, qb;
    double la = 0, lb = 0;
    PruneOptions opt;
    solver.prune(a.view(), opt, &q, nullptr, &qa, &la);
    solver.quantize(b.view(), q, &qb, &lb);
    EXPECT_EQ(a.data, b.data);
    EXPECT_EQ(qa.codes, qb.codes);
    EXPECT_DOUBLE_EQ(la, lb);
}

// Repeated runs are bit-identical; other thread counts change only float summation order
// (OpenBLAS partitions differently), so their results agree to rounding.
TEST(Engine, DeterministicAndThreadCountIndependent) {
    auto h = random_hessian(200, 500, 5);  // 200 columns: a short last block
    const Matrix w0 = random_matrix(37, 200, 6);
    std::vector<Matrix> results;
    std::vector<double> losses;
    for (int threads : {1, 2, 2, 3}) {
        auto ctx = std::make_shared<Context>();
        ctx->threads = threads;
        Solver solver(ctx, *h, 0.01, 128);
        Matrix w = w0;
        PruneOptions opt;
        opt.sparsity = 0.6;
        QuantConfig q;
        q.bits = 4;
        q.group_size = 16;
        double loss = 0;
        solver.prune(w.view(), opt, &q, nullptr, nullptr, &loss);
        results.push_back(w);
        losses.push_back(loss);
    }
    EXPECT_EQ(results[1].data, results[2].data);
    EXPECT_EQ(losses[1], losses[2]);
    for (double l : losses) EXPECT_NEAR(l, losses[0], 0.01 * losses[0]);
}

TEST(Engine, LossGrowsWithSparsity) {
    auto h = random_hessian(128, 400, 7);
    Solver solver(default_context(), *h, 0.01, 128);
    double previous = -1.0;
    for (double s : {0.0, 0.3, 0.5, 0.8}) {
        Matrix w = random_matrix(16, 128, 8);
        PruneOptions opt;
        opt.sparsity = s;
        double loss = 0;
        solver.prune(w.view(), opt, nullptr, nullptr, nullptr, &loss);
        EXPECT_GT(loss, previous);
        previous = loss;
    }
}

TEST(Engine, RowScopeGivesEveryRowTheSameSparsity) {
    auto h = random_hessian(256, 600, 9);
    Solver solver(default_context(), *h, 0.01, 128);
    Matrix w = random_matrix(20, 256, 10);
    PruneOptions opt;
    opt.sparsity = 0.25;
    opt.scope = SURGEON_MASK_SCOPE_ROW;
    Mask mask;
    solver.prune(w.view(), opt, nullptr, &mask, nullptr, nullptr);
    for (int64_t r = 0; r < 20; ++r)
        for (int64_t c0 = 0; c0 < 256; c0 += 128) {
            int zeros = 0;
            for (int64_t c = c0; c < c0 + 128; ++c) zeros += mask.keep[r * 256 + c] ? 0 : 1;
            EXPECT_EQ(zeros, 32);
        }
}

TEST(Engine, DeadInputsAreZeroedAndPrunedFirst) {
    const int64_t n = 64;
    Matrix x = random_matrix(300, n, 11);
    for (int64_t t = 0; t < 300; ++t) x(t, 5) = x(t, 40) = 0.0f;
    Hessian h(default_context(), n);
    h.add(x.data.data(), 300, n);
    Solver solver(default_context(), h, 0.01, 128);
    Matrix w = random_matrix(8, n, 12);
    QuantConfig q;
    q.bits = 4;
    solver.quantize(w.view(), q, nullptr, nullptr);
    for (int64_t r = 0; r < 8; ++r) {
        EXPECT_EQ(w(r, 5), 0.0f);
        EXPECT_EQ(w(r, 40), 0.0f);
    }
}

// The solver's copy of H (1 on the diagonal of inactive inputs) with those inputs masked
// gives the relative error of the true H, to the bit.
TEST(Engine, RelativeErrorFromTheSolversHessianEqualsTheTrueOne) {
    const int64_t n = 64;
    Matrix x = random_matrix(300, n, 21);
    for (int64_t t = 0; t < 300; ++t) x(t, 3) = x(t, 50) = 0.0f;
    Hessian h(default_context(), n);
    h.add(x.data.data(), 300, n);
    Solver solver(default_context(), h, 0.01, 32);
    const Matrix w = random_matrix(16, n, 22);
    Matrix w_hat = w;
    solver.prune(w_hat.view(), PruneOptions{0.5}, nullptr, nullptr, nullptr, nullptr);
    Backend& be = cpu_backend(2);
    const double truth = relative_reconstruction_error(be, h.matrix(), w.view(), w_hat.view());
    EXPECT_GT(truth, 0.0);
    ASSERT_EQ(solver.inactive_inputs()[3], 1);
    ASSERT_EQ(solver.inactive_inputs()[50], 1);
    EXPECT_EQ(relative_reconstruction_error(be, solver.hessian(), w.view(), w_hat.view(), &solver.inactive_inputs()),
              truth);
    // Unmasked, the 1s on the diagonal count the original weights of the dead inputs.
    EXPECT_GT(relative_reconstruction_error(be, solver.hessian(), w.view(), w_hat.view()), truth);
}

// tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) on 2 × 2 Hessians by hand; an indefinite H (eigenvalues 3 and
// −1) with a positive diagonal makes one trace negative: a NUMERIC error, not a negative
// relative error.
TEST(Engine, RelativeErrorClosedFormsAndIndefiniteHessian) {
    Backend& be = cpu_backend(1);
    auto matrix = [](std::initializer_list<float> v, int64_t rows) {
        Matrix m(rows, static_cast<int64_t>(v.size()) / rows);
        std::copy(v.begin(), v.end(), m.data.begin());
        return m;
    };
    const Matrix psd = matrix({2, 1, 1, 2}, 2), indefinite = matrix({1, 2, 2, 1}, 2);
    const Matrix w = matrix({1, 0}, 1);
    EXPECT_EQ(relative_reconstruction_error(be, psd, w.view(), matrix({0.5f, 0}, 1).view()), 0.25);  // 0.5 / 2
    EXPECT_EQ(relative_reconstruction_error(be, psd, w.view(), matrix({1, 1}, 1).view()), 1.0);      // 2 / 2
    EXPECT_EQ(relative_reconstruction_error(be, psd, w.view(), w.view()), 0.0);
    EXPECT_EQ(relative_reconstruction_error(be, indefinite, w.view(), matrix({0.5f, 0}, 1).view()), 0.25);
    auto expect_indefinite = [&](const Matrix& weight, const Matrix& w_hat, const std::string& trace) {
        try {
            relative_reconstruction_error(be, indefinite, weight.view(), w_hat.view());
            ADD_FAILURE() << "no error for " << trace;
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), SURGEON_ERR_NUMERIC) << e.what();
            const std::string what = e.what();
            EXPECT_NE(what.find("H is not positive semidefinite: " + trace), std::string::npos) << what;
        }
    };
    expect_indefinite(w, matrix({0, 1}, 1), "tr(ΔW H ΔWᵀ) = -2");  // ΔW = (1, −1): 1 − 4 + 1
    expect_indefinite(matrix({1, -1}, 1), matrix({1, -1}, 1), "tr(W H Wᵀ) = -2");
}

TEST(Engine, ActOrderProcessesColumnsByDescendingHessianDiagonal) {
    auto h = random_hessian(96, 300, 13);
    Solver solver(default_context(), *h, 0.01, 32);
    QuantConfig q;
    q.bits = 4;
    q.group_size = 32;
    q.act_order = true;
    Matrix w = random_matrix(10, 96, 14);
    QuantResult qr;
    solver.quantize(w.view(), q, &qr, nullptr);
    const auto d = h->diagonal();
    for (size_t k = 1; k < qr.perm.size(); ++k) EXPECT_GE(d[qr.perm[k - 1]], d[qr.perm[k]]);
    // Groups follow the processing order: g_idx of the k-th processed column is k / 32.
    for (size_t k = 0; k < qr.perm.size(); ++k) EXPECT_EQ(qr.g_idx[qr.perm[k]], static_cast<int32_t>(k / 32));
    FloatBuffer deq(w.data.size());
    qr.dequantize(deq.data(), 96);
    EXPECT_EQ(deq, w.data);
}

TEST(Engine, DampingEscalatesThenFails) {
    // Indefinite: eigenvalues 31 and -29; damping of at most 1000 × 0.01 × mean(diag) = 10
    // cannot lift -29.
    const int64_t n = 2;
    Matrix m(n, n);
    m(0, 0) = m(1, 1) = 1.0f;
    m(0, 1) = m(1, 0) = 30.0f;
    Hessian h(default_context(), n);
    h.assign_matrix(m.data.data(), n, 1);
    Solver solver(default_context(), h, 0.01, 128);
    try {
        solver.factorize();
        FAIL() << "expected a numeric error";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_NUMERIC);
    }
    // A semi-definite Hessian (rank-deficient) succeeds thanks to damping.
    Matrix x = random_matrix(3, 16, 15);
    Hessian low_rank(default_context(), 16);
    low_rank.add(x.data.data(), 3, 16);
    Solver ok(default_context(), low_rank, 0.01, 128);
    EXPECT_NO_THROW(ok.factorize());
    EXPECT_GT(ok.damping(), 0.0);
}

TEST(Engine, UpperCholeskyOfInverseMatchesDefinition) {
    auto h = random_hessian(50, 200, 16);
    Matrix hm = h->matrix(), u = hm;
    ASSERT_TRUE(cpu_backend(2).upper_cholesky_of_inverse(u.data.data(), 50));
    // UᵀU · H = I.
    Matrix utu(50, 50), prod(50, 50);
    for (int64_t i = 0; i < 50; ++i)
        for (int64_t j = 0; j < 50; ++j) {
            double s = 0;
            for (int64_t k = 0; k < 50; ++k) s += static_cast<double>(u(k, i)) * u(k, j);
            utu(i, j) = static_cast<float>(s);
        }
    for (int64_t i = 0; i < 50; ++i)
        for (int64_t j = 0; j < 50; ++j) {
            double s = 0;
            for (int64_t k = 0; k < 50; ++k) s += static_cast<double>(utu(i, k)) * hm(k, j);
            EXPECT_NEAR(s, i == j ? 1.0 : 0.0, 2e-3);
            if (j < i) { EXPECT_EQ(u(i, j), 0.0f); }
        }
}

// Option values beyond the matrix: a block_size or quantization group_size wider than the
// column count (up to INT64_MAX) runs as one block / one group per row — the same result
// as block_size = cols / group_size = 0, with scratch bounded by the matrix — and a block
// size below 1 is an INVALID_ARGUMENT error.
constexpr int64_t kHuge = std::numeric_limits<int64_t>::max();

struct Outcome {
    Matrix w;
    QuantResult q;
    double loss = 0.0;
};

Outcome gptq(const Hessian& h, int64_t block, int64_t group, bool static_groups, const Matrix& w0) {
    Solver solver(default_context(), h, 0.01, block);
    QuantConfig cfg;
    cfg.bits = 3;
    cfg.group_size = group;
    cfg.static_groups = static_groups;
    Outcome r{w0, {}, 0.0};
    solver.quantize(r.w.view(), cfg, &r.q, &r.loss);
    return r;
}

TEST(OptionLimits, GroupWiderThanTheRowIsOneGroupPerRow) {
    const int64_t rows = 12, cols = 40;
    auto h = random_hessian(cols, 300, 1);
    const Matrix w0 = random_matrix(rows, cols, 2);
    const Outcome per_row = gptq(*h, 16, 0, false, w0);
    for (int64_t group : {cols, cols + 1, int64_t{1} << 40, kHuge - 1, kHuge})
        for (bool static_groups : {false, true}) {
            const Outcome r = gptq(*h, 16, group, static_groups, w0);
            SCOPED_TRACE("group " + std::to_string(group) + (static_groups ? " static" : ""));
            EXPECT_EQ(r.q.groups, 1);
            EXPECT_EQ(r.q.scales.size(), static_cast<size_t>(rows));
            EXPECT_EQ(r.q.scales, per_row.q.scales);
            EXPECT_EQ(r.q.codes, per_row.q.codes);
            EXPECT_EQ(r.w.data, per_row.w.data);
            EXPECT_DOUBLE_EQ(r.loss, per_row.loss);
        }
}

TEST(OptionLimits, BlockWiderThanTheRowIsOneBlock) {
    const int64_t rows = 10, cols = 36;
    auto h = random_hessian(cols, 300, 3);
    const Matrix w0 = random_matrix(rows, cols, 4);
    const Outcome one_block = gptq(*h, cols, 8, false, w0);
    for (int64_t block : {cols + 1, int64_t{2147483648}, int64_t{1} << 50, kHuge}) {
        const Outcome r = gptq(*h, block, 8, false, w0);
        EXPECT_EQ(r.w.data, one_block.w.data) << block;
        EXPECT_EQ(r.q.codes, one_block.q.codes) << block;
        EXPECT_DOUBLE_EQ(r.loss, one_block.loss) << block;
    }
    // Pruning n:m with a huge block: still one block (a multiple of m by construction).
    Solver solver(default_context(), *h, 0.01, (kHuge / 4) * 4);
    Matrix w = w0;
    PruneOptions opt;
    opt.n = 2;
    opt.m = 4;
    Mask mask;
    solver.prune(w.view(), opt, nullptr, &mask, nullptr, nullptr);
    EXPECT_TRUE(mask.check_nm(2, 4));
    EXPECT_EQ(mask.pruned(), rows * cols / 2);
}

TEST(OptionLimits, BlockBelowOneIsAnError) {
    auto h = random_hessian(8, 50, 5);
    for (int64_t block : {int64_t{0}, int64_t{-1}, std::numeric_limits<int64_t>::min()}) {
        try {
            Solver solver(default_context(), *h, 0.01, block);
            ADD_FAILURE() << "block " << block << " accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), SURGEON_ERR_INVALID_ARGUMENT) << block;
        }
    }
}

}  // namespace
}  // namespace surgeon
