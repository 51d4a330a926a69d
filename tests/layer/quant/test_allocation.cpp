// Allocators: exact budgets for many option sets, optimality against brute force and the
// exact DP, quantile bin fractions, statistics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>

#include "core/error.hpp"
#include "layer/quant/allocation.hpp"
#include "layer/quant/mixed_stats.hpp"

namespace surgeon {
namespace {

int64_t total(const std::vector<int>& bits) { return std::accumulate(bits.begin(), bits.end(), int64_t{0}); }

std::vector<float> random_importance(int64_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::lognormal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = d(rng);
    return v;
}

// Largest reachable total <= target by brute force over how many rows take each option.
int64_t brute_attainable(int64_t rows, const std::vector<int>& opts, int64_t target) {
    std::vector<char> reach(static_cast<size_t>(rows * 8 + 1), 0);
    reach[0] = 1;
    for (int64_t r = 0; r < rows; ++r) {
        std::vector<char> next(reach.size(), 0);
        for (size_t s = 0; s < reach.size(); ++s)
            if (reach[s])
                for (int b : opts)
                    if (s + b < next.size()) next[s + b] = 1;
        reach.swap(next);
    }
    for (int64_t s = target; s >= 0; --s)
        if (reach[s]) return s;
    return -1;
}

TEST(Allocation, AttainableTotalMatchesBruteForce) {
    const std::vector<std::vector<int>> sets = {{2, 3, 4, 6, 8}, {2, 4, 8}, {1, 8}, {3, 8}, {5}, {6, 7}};
    for (const auto& opts : sets)
        for (int64_t rows : {1, 2, 3, 7, 13})
            for (double avg = opts.front(); avg <= opts.back(); avg += 0.37) {
                const int64_t expect = brute_attainable(rows, opts, static_cast<int64_t>(std::floor(avg * rows + 1e-7)));
                EXPECT_EQ(attainable_total(rows, opts, avg), expect) << "rows " << rows << " avg " << avg;
            }
}

TEST(Allocation, BudgetHitsTargetExactlyForManyOptionSets) {
    const std::vector<std::vector<int>> sets = {{2, 3, 4, 6, 8}, {2, 4, 8}, {3, 4},    {1, 8},
                                                {8, 2, 4},       {4},       {1, 2, 3, 4, 5, 6, 7, 8}};
    // 172 rows take the exact DP, 4096 rows the Lagrangian greedy plus the repair DP.
    for (int64_t rows : {172, 4096}) {
        const auto imp = random_importance(rows, static_cast<unsigned>(rows));
        for (const auto& opts : sets) {
            const auto lo = *std::min_element(opts.begin(), opts.end());
            const auto hi = *std::max_element(opts.begin(), opts.end());
            for (double avg : {2.0, 2.5, 3.0, 3.25, 3.5, 4.0, 4.125, 5.0, 6.3, 7.9}) {
                if (avg < lo || avg > hi) continue;
                const auto bits = allocate_budget(imp, opts, avg);
                ASSERT_EQ(static_cast<int64_t>(bits.size()), rows);
                const int64_t t = total(bits);
                EXPECT_EQ(t, attainable_total(rows, opts, avg));
                EXPECT_LE(static_cast<double>(t), avg * rows + 1e-9);
                for (int b : bits) EXPECT_NE(std::find(opts.begin(), opts.end(), b), opts.end());
                // With consecutive options every total is reachable: the target itself.
                bool has_step = false;
                for (int a : opts)
                    for (int b : opts) has_step |= b == a + 1;
                if (has_step) { EXPECT_EQ(t, static_cast<int64_t>(std::floor(avg * rows + 1e-7))); }
            }
        }
    }
}

TEST(Allocation, BudgetGivesMoreBitsToMoreImportantRows) {
    const auto imp = random_importance(1000, 3);
    const auto bits = allocate_budget(imp, default_bit_options(), 4.0);
    for (size_t i = 0; i < imp.size(); ++i)
        for (size_t j = 0; j < imp.size(); j += 37)
            if (imp[i] > imp[j]) { EXPECT_GE(bits[i], bits[j]); }
}

TEST(Allocation, ExactDpMatchesBruteForce) {
    std::mt19937 rng(11);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const std::vector<int> opts = {2, 3, 4, 6, 8};
    const int rows = 6, k = 5;
    for (int trial = 0; trial < 20; ++trial) {
        std::vector<double> cost(rows * k);
        for (double& c : cost) c = u(rng);  // arbitrary, not convex
        const double avg = 2.0 + 6.0 * u(rng);
        const int64_t target = attainable_total(rows, opts, avg);
        double best = 1e300;
        for (int code = 0; code < 15625; ++code) {
            int c = code, sum = 0;
            double v = 0;
            for (int i = 0; i < rows; ++i, c /= k) {
                sum += opts[c % k];
                v += cost[i * k + c % k];
            }
            if (sum == target) best = std::min(best, v);
        }
        const auto bits = solve_budget(cost, rows, opts, avg);
        EXPECT_EQ(total(bits), target);
        EXPECT_NEAR(allocation_cost(cost, opts, bits), best, 1e-12);
    }
}

TEST(Allocation, LagrangianWithRepairMatchesExactDp) {
    std::mt19937 rng(5);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const std::vector<std::vector<int>> sets = {{2, 3, 4, 6, 8}, {2, 4, 8}, {1, 8}};
    BudgetSolverOptions greedy;
    greedy.exact_limit = 0.0;  // force the large-layer path
    for (const auto& opts : sets)
        for (int trial = 0; trial < 10; ++trial) {
            const int64_t rows = 300;
            const size_t k = opts.size();
            // Errors shaped like quantization: scale_i · 4^-b times a row-specific bend.
            std::vector<double> cost(rows * k);
            for (int64_t i = 0; i < rows; ++i) {
                const double scale = std::exp(3.0 * u(rng)), bend = 0.5 + u(rng);
                for (size_t m = 0; m < k; ++m) cost[i * k + m] = scale * std::pow(4.0, -bend * opts[m]) * (1.0 + 0.1 * u(rng));
            }
            const double avg = opts.front() + (opts.back() - opts.front()) * u(rng);
            const auto exact = solve_budget(cost, rows, opts, avg);
            const auto fast = solve_budget(cost, rows, opts, avg, greedy);
            EXPECT_EQ(total(fast), total(exact));
            const double ce = allocation_cost(cost, opts, exact), cf = allocation_cost(cost, opts, fast);
            EXPECT_LE(cf, ce * (1.0 + 1e-3) + 1e-15) << "avg " << avg;
        }
}

TEST(Allocation, QuantileBinsHaveStatedFractions) {
    const int64_t n = 1000;
    const auto imp = random_importance(n, 9);
    const auto bits = allocate_quantile(imp, {8, 6, 4, 3, 2}, {0.2, 0.4, 0.6, 0.8});
    std::map<int, int64_t> count;
    for (int b : bits) ++count[b];
    for (int b : {2, 3, 4, 6, 8}) EXPECT_EQ(count[b], 200) << b;
    for (size_t i = 0; i < imp.size(); ++i)
        for (size_t j = 0; j < imp.size(); j += 31)
            if (imp[i] > imp[j]) { EXPECT_GE(bits[i], bits[j]); }

    const int64_t m = 333;
    const auto imp2 = random_importance(m, 4);
    const auto b2 = allocate_quantile(imp2, {2, 4, 8}, {0.1, 0.75});
    std::map<int, int64_t> c2;
    for (int b : b2) ++c2[b];
    EXPECT_EQ(c2[2], std::llround(0.1 * m));
    EXPECT_EQ(c2[4], std::llround(0.75 * m) - std::llround(0.1 * m));
    EXPECT_EQ(c2[8], m - std::llround(0.75 * m));

    // Empty cut points: equal bins.
    const auto b3 = allocate_quantile(imp, {3, 4}, {});
    EXPECT_EQ(std::count(b3.begin(), b3.end(), 3), 500);
}

TEST(Allocation, QuantilesForTargetReachTheAverage) {
    for (double avg : {2.5, 3.0, 4.0, 5.5}) {
        const auto cuts = quantiles_for_target(default_bit_options(), avg);
        ASSERT_EQ(cuts.size(), 4u);
        const auto bits = allocate_quantile(random_importance(10000, 1), default_bit_options(), cuts);
        EXPECT_NEAR(static_cast<double>(total(bits)) / 10000.0, avg, 5e-3);
    }
}

TEST(Allocation, RejectsBadArguments) {
    const auto imp = random_importance(10, 1);
    auto status = [](auto&& f) {
        try {
            f();
        } catch (const Error& e) {
            return e.status();
        }
        return SURGEON_OK;
    };
    EXPECT_EQ(status([&] { allocate_budget(imp, {}, 3.0); }), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status([&] { allocate_budget(imp, {0, 4}, 3.0); }), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status([&] { allocate_budget(imp, {2, 9}, 3.0); }), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status([&] { allocate_budget(imp, {2, 4, 4}, 3.0); }), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status([&] { allocate_budget(imp, {2, 4}, 4.5); }), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status([&] { allocate_budget(imp, {2, 4}, 1.5); }), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status([&] { allocate_quantile(imp, {2, 4, 8}, {0.5}); }), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status([&] { allocate_quantile(imp, {2, 4, 8}, {0.6, 0.5}); }), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status([&] { solve_budget({1.0, 2.0}, 2, {2, 4}, 3.0); }), SURGEON_ERR_SHAPE);
    EXPECT_EQ(status([&] { solve_budget({1.0, NAN}, 1, {2, 4}, 3.0); }), SURGEON_ERR_NUMERIC);
}

TEST(MixedStats, HistogramAndAverages) {
    const std::vector<int> bits = {2, 2, 3, 4, 8};
    const std::vector<float> imp = {0.5f, 1.0f, 1.5f, 0.25f, 1.75f};
    // cols 256, groups of 128: 2 grids per row, 16-bit scale and a zero of the row's width.
    const MixedStats s = mixed_stats(bits, 256, 128, {}, &imp);
    EXPECT_EQ(s.channels, 5);
    EXPECT_EQ(s.weights, 1280);
    EXPECT_EQ(s.grids, 10);
    EXPECT_EQ(s.histogram[2], 2);
    EXPECT_EQ(s.histogram[3], 1);
    EXPECT_EQ(s.histogram[8], 1);
    EXPECT_DOUBLE_EQ(s.avg_bits(), 19.0 / 5.0);
    EXPECT_DOUBLE_EQ(s.avg_bits_with_overhead(), (19.0 * 256 + 2 * (5 * 16 + 19)) / 1280.0);
    EXPECT_DOUBLE_EQ(s.importance_min, 0.25);
    EXPECT_DOUBLE_EQ(s.importance_max, 1.75);
    EXPECT_DOUBLE_EQ(s.importance_mean, 1.0);

    MixedStats model = s;
    model.add(mixed_stats({4, 4}, 256, 0, {16, 0}, nullptr));
    EXPECT_EQ(model.channels, 7);
    EXPECT_DOUBLE_EQ(model.avg_bits(), (19.0 + 8.0) / 7.0);
    EXPECT_EQ(model.histogram[4], 3);
}

}  // namespace
}  // namespace surgeon

namespace surgeon {
namespace {

// Least Σ cost over all rows of all groups with Σ bits·weight <= budget, by exact DP over
// the storage used.
double grouped_optimum(const std::vector<BudgetGroup>& groups, int64_t budget) {
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<double> best(static_cast<size_t>(budget + 1), inf), next(best.size());
    best[0] = 0.0;
    for (const BudgetGroup& g : groups)
        for (int64_t i = 0; i < g.rows; ++i) {
            std::fill(next.begin(), next.end(), inf);
            for (int64_t s = 0; s <= budget; ++s) {
                if (best[s] == inf) continue;
                for (size_t m = 0; m < g.options.size(); ++m) {
                    const int64_t t = s + g.options[m] * g.weight;
                    if (t <= budget)
                        next[t] = std::min(next[t], best[s] + g.cost[static_cast<size_t>(i) * g.options.size() + m]);
                }
            }
            best.swap(next);
        }
    return *std::min_element(best.begin(), best.end());
}

// Two layers of different widths and option sets; cost a_i·4^(−b) (+ noise) per row.
std::vector<BudgetGroup> random_groups(unsigned seed, int64_t rows) {
    std::mt19937 rng(seed);
    std::lognormal_distribution<double> scale(0.0, 1.5);
    std::uniform_real_distribution<double> wiggle(0.8, 1.2);
    std::vector<BudgetGroup> groups = {{{4, 2, 3, 6}, 3, rows, {}}, {{1, 8, 4}, 5, rows / 2, {}}};
    for (BudgetGroup& g : groups)
        for (int64_t i = 0; i < g.rows; ++i) {
            const double a = scale(rng);
            for (int b : g.options) g.cost.push_back(a * std::pow(4.0, -b) * wiggle(rng));
        }
    return groups;
}

TEST(GroupedBudget, StaysWithinTheBudgetAndNearTheExactOptimum) {
    for (unsigned seed = 1; seed <= 6; ++seed) {
        const std::vector<BudgetGroup> groups = random_groups(seed, 24);
        for (int64_t budget : {int64_t{24 * 3 * 2 + 12 * 5 * 1 + 37}, int64_t{400}, int64_t{640}}) {
            const std::vector<std::vector<int>> bits = solve_grouped_budget(groups, budget);
            ASSERT_EQ(bits.size(), 2u);
            int64_t used = 0;
            double cost = 0.0;
            for (size_t g = 0; g < groups.size(); ++g) {
                ASSERT_EQ(static_cast<int64_t>(bits[g].size()), groups[g].rows);
                for (size_t i = 0; i < bits[g].size(); ++i) {
                    const auto& o = groups[g].options;
                    const auto m = static_cast<size_t>(std::find(o.begin(), o.end(), bits[g][i]) - o.begin());
                    ASSERT_LT(m, o.size());
                    used += bits[g][i] * groups[g].weight;
                    cost += groups[g].cost[i * o.size() + m];
                }
            }
            EXPECT_LE(used, budget);
            const double optimum = grouped_optimum(groups, budget);
            EXPECT_GE(cost, optimum * (1.0 - 1e-12));
            EXPECT_LE(cost, optimum * 1.05) << "seed " << seed << " budget " << budget;
        }
    }
}

TEST(GroupedBudget, LeavesNoAffordableStepAndChecksItsInput) {
    // Strictly convex costs: every option is on the hull, so the next step is the next option.
    const std::vector<BudgetGroup> groups = random_groups(7, 40);
    const int64_t budget = 40 * 3 * 3 + 20 * 5 * 4 + 11;
    const std::vector<std::vector<int>> bits = solve_grouped_budget(groups, budget);
    int64_t used = 0;
    for (size_t g = 0; g < groups.size(); ++g)
        for (int b : bits[g]) used += b * groups[g].weight;
    for (size_t g = 0; g < groups.size(); ++g) {
        std::vector<int> sorted = groups[g].options;
        std::sort(sorted.begin(), sorted.end());
        for (int b : bits[g]) {
            const auto it = std::upper_bound(sorted.begin(), sorted.end(), b);
            if (it != sorted.end()) { EXPECT_GT((*it - b) * groups[g].weight, budget - used); }
        }
    }
    EXPECT_THROW(solve_grouped_budget(groups, 40 * 3 * 2 + 20 * 5 - 1), Error);  // below the minimum
    std::vector<BudgetGroup> bad = groups;
    bad[0].cost.pop_back();
    EXPECT_THROW(solve_grouped_budget(bad, budget), Error);
    bad = groups;
    bad[1].cost[0] = std::nan("");
    EXPECT_THROW(solve_grouped_budget(bad, budget), Error);
}

}  // namespace
}  // namespace surgeon
