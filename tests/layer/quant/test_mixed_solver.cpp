// The solver with per-row widths (levels per row and group <= 2^bits, GPTQ and joint
// prune + quantize), and the error-driven allocator against uniform GPTQ on the
// stories260K fixtures (real weights and activations).
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <set>
#include <string>

#include "core/backend.hpp"
#include "core/npy.hpp"
#include "layer/hessian/hessian.hpp"
#include "layer/quant/mixed.hpp"
#include "layer/quant/rtn.hpp"
#include "layer/solver/metrics.hpp"
#include "layer/solver/solver.hpp"

namespace surgeon {
namespace {

struct Layer {
    Matrix w, h;                       // fixture weight and Hessian (the metric)
    std::unique_ptr<Hessian> acc;      // accumulated from the captured inputs X
};

Layer load_layer(const std::string& name) {
    const std::string dir = std::string(SURGEON_FIXTURES_DIR) + "/" + name;
    Layer l;
    NpyArray w = read_npy(dir + "/W.npy"), h = read_npy(dir + "/H.npy"), x = read_npy(dir + "/X.npy");
    l.w = Matrix(w.dim(0), w.dim(1), w.data);
    l.h = Matrix(h.dim(0), h.dim(1), h.data);
    l.acc = std::make_unique<Hessian>(default_context(), x.dim(1));
    l.acc->add(x.data.data(), x.dim(0), x.dim(1));
    return l;
}

const char* const kLayers[] = {"stories260K_block0_w1", "stories260K_block2_w2", "stories260K_block2_wq"};

double rel_error(const Layer& l, const Matrix& w_hat) {
    return relative_reconstruction_error(cpu_backend(2), l.h, l.w.view(), w_hat.view());
}

struct Case {
    const char* name;
    int64_t group;
    bool act_order, static_groups, symmetric;
    double sparsity;
    int n, m;
};

TEST(MixedSolver, PerRowBitsAreRespected) {
    const Case cases[] = {
        {"gptq per-row", 0, false, false, true, -1, 0, 0},
        {"gptq g16", 16, false, false, true, -1, 0, 0},
        {"gptq g32 act-order", 32, true, false, true, -1, 0, 0},
        {"gptq g32 act-order static", 32, true, true, true, -1, 0, 0},
        {"gptq asym", 0, false, false, false, -1, 0, 0},
        {"prune 50% + quant", 0, false, false, true, 0.5, 0, 0},
        {"prune 2:4 + quant g16 asym", 16, false, false, false, 0.0, 2, 4},
    };
    Layer l = load_layer("stories260K_block0_w1");
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> pick(1, 8);
    std::vector<int> bits(static_cast<size_t>(l.w.rows));
    for (int& b : bits) b = pick(rng);
    Solver solver(default_context(), *l.acc, 0.01, 128);
    for (const Case& c : cases) {
        QuantConfig q;
        q.bits = 4;  // overridden row by row
        q.group_size = c.group;
        q.act_order = c.act_order;
        q.static_groups = c.static_groups;
        q.symmetric = c.symmetric;
        Matrix w = l.w;
        QuantResult res;
        if (c.sparsity >= 0) {
            PruneOptions p;
            p.sparsity = c.sparsity;
            p.n = c.n;
            p.m = c.m;
            solver.prune(w.view(), p, &q, nullptr, &res, nullptr, &bits);
        } else {
            solver.quantize(w.view(), q, &res, nullptr, &bits);
        }
        ASSERT_EQ(res.row_bits, bits) << c.name;
        for (int64_t r = 0; r < w.rows; ++r) {
            std::vector<std::set<float>> levels(static_cast<size_t>(res.groups));
            for (int64_t j = 0; j < w.cols; ++j) {
                ASSERT_LE(res.codes[r * w.cols + j], (1 << bits[r]) - 1) << c.name << " row " << r;
                levels[res.g_idx[j]].insert(w(r, j));
            }
            for (const auto& s : levels) ASSERT_LE(s.size(), size_t{1} << bits[r]) << c.name << " row " << r;
        }
        // The codes reproduce the weights the solver wrote.
        Matrix deq(w.rows, w.cols);
        res.dequantize(deq.data.data(), w.cols);
        for (size_t i = 0; i < deq.data.size(); ++i) ASSERT_NEAR(deq.data[i], w.data[i], 1e-5f) << c.name;
    }
}

// Uniform GPTQ against per-row widths at the same average (per weight, scales excluded).
// With the default options {2,3,4,6,8} the error-driven allocator may keep every row at
// the uniform width when the rows are alike (w2 at 4 bits: equal), never worse; with
// every width 1..8 available it must be strictly better on every layer.
TEST(MixedSolver, ErrorDrivenBeatsUniformAtEqualAverage) {
    const std::vector<int> all_widths = {1, 2, 3, 4, 5, 6, 7, 8};
    std::printf("%-22s %4s %9s | %9s %9s %9s | %9s\n", "layer", "bits", "uniform", "error",
                "budget", "quantile", "error1-8");
    for (const char* name : kLayers) {
        Layer l = load_layer(name);
        Solver solver(default_context(), *l.acc, 0.01, 128);
        for (int avg : {3, 4}) {
            QuantConfig q;
            q.bits = avg;
            Matrix uni = l.w;
            solver.quantize(uni.view(), q, nullptr, nullptr);
            const double e_uni = rel_error(l, uni);
            double e[4];
            const Allocator kinds[] = {Allocator::error, Allocator::budget, Allocator::quantile,
                                       Allocator::error};
            for (int a = 0; a < 4; ++a) {
                MixedPlan plan;
                plan.allocator = kinds[a];
                plan.avg_bits = avg;
                if (a == 3) plan.options = all_widths;
                RowBits rb = allocate_row_bits(*default_context(), *l.acc, solver.inverse_factor(),
                                               l.w.view(), q, plan);
                if (kinds[a] != Allocator::quantile) {
                    // The budget is met exactly: the same bits as uniform.
                    EXPECT_DOUBLE_EQ(rb.stats.avg_bits(), avg) << name;
                } else {
                    EXPECT_NEAR(rb.stats.avg_bits(), avg, 5.0 / l.w.rows) << name;
                }
                Matrix mixed = l.w;
                solver.quantize(mixed.view(), q, nullptr, nullptr, &rb.bits);
                e[a] = rel_error(l, mixed);
            }
            std::printf("%-22s %4d %9.5f | %9.5f %9.5f %9.5f | %9.5f\n", name, avg, e_uni, e[0],
                        e[1], e[2], e[3]);
            EXPECT_LE(e[0], e_uni * (1.0 + 1e-9)) << name << " at " << avg << " bits";
            EXPECT_LT(e[3], e_uni) << name << " at " << avg << " bits, widths 1..8";
        }
    }
}

TEST(MixedSolver, RowErrorModelTracksGptq) {
    // The estimated per-row errors summed over an allocation should order allocations as
    // the solver's real error does: more bits, less estimated and real error.
    Layer l = load_layer("stories260K_block2_w2");
    Solver solver(default_context(), *l.acc, 0.01, 128);
    QuantConfig q;
    MixedPlan plan;
    plan.avg_bits = 3.0;
    RowBits rb = allocate_row_bits(*default_context(), *l.acc, solver.inverse_factor(), l.w.view(), q, plan);
    const size_t k = plan.options.size();
    for (int64_t r = 0; r < l.w.rows; ++r)
        for (size_t m = 1; m < k; ++m) EXPECT_LE(rb.errors[r * k + m], rb.errors[r * k + m - 1] * 1.0001 + 1e-12);
}

}  // namespace
}  // namespace surgeon

// RTN with per-row widths, 1 bit included: each row is uniform RTN at its width (rows are
// independent), at most 2^b levels, codes and row widths in the result.
TEST(MixedRtn, PerRowWidthsAreUniformRtnRowByRow) {
    std::mt19937 rng(5);
    std::normal_distribution<float> g;
    surgeon::Matrix w(24, 40);
    for (float& v : w.data) v = g(rng);
    std::vector<int> bits(24);
    for (size_t r = 0; r < bits.size(); ++r) bits[r] = 1 + static_cast<int>(r % 8);
    surgeon::QuantConfig cfg;
    cfg.group_size = 8;
    surgeon::Matrix mixed = w;
    surgeon::QuantResult q;
    surgeon::quantize_rtn(surgeon::Context(), mixed.view(), cfg, &q, &bits);
    EXPECT_EQ(q.row_bits, bits);
    for (int b = 2; b <= 8; ++b) {
        surgeon::Matrix uniform = w;
        surgeon::QuantConfig u = cfg;
        u.bits = b;
        surgeon::quantize_rtn(surgeon::Context(), uniform.view(), u, nullptr);
        for (int64_t r = 0; r < w.rows; ++r)
            if (bits[r] == b) {
                for (int64_t c = 0; c < w.cols; ++c) ASSERT_EQ(mixed(r, c), uniform(r, c)) << r;
            }
    }
    for (int64_t r = 0; r < w.rows; ++r)
        for (int64_t c0 = 0; c0 < w.cols; c0 += 8) {
            std::set<float> levels(mixed.row(r) + c0, mixed.row(r) + c0 + 8);
            EXPECT_LE(levels.size(), size_t{1} << bits[r]) << r;
            for (int64_t c = c0; c < c0 + 8; ++c) EXPECT_LT(q.codes[r * w.cols + c], 1u << bits[r]);
        }
    std::vector<int> bad(bits);
    bad[3] = 9;
    surgeon::Matrix untouched = w;
    EXPECT_THROW(surgeon::quantize_rtn(surgeon::Context(), untouched.view(), cfg, nullptr, &bad), surgeon::Error);
    EXPECT_EQ(untouched.data, w.data);
    bad.pop_back();
    EXPECT_THROW(surgeon::quantize_rtn(surgeon::Context(), untouched.view(), cfg, nullptr, &bad), surgeon::Error);
}
