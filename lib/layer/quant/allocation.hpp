// Per-row (output channel) bit-width allocation for mixed-precision quantization.
//
// Every allocator returns one bit width per row, drawn from a set of options within 1..8
// (given in any order, without duplicates).
//  - quantile: rows ranked by importance, cut at fixed quantiles (no budget);
//  - budget:   a target average met exactly (see attainable_total), bits placed by a
//              rate-distortion model of the importance: row i at b bits costs I_i²·4^-b;
//  - error:    the same exact budgeted solver over estimated per-row errors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace surgeon {

// {2, 3, 4, 6, 8}.
std::vector<int> default_bit_options();

// Sorted, deduplicated options; throws SURGEON_ERR_INVALID_ARGUMENT when empty or when a
// value lies outside 1..8.
std::vector<int> normalize_bit_options(std::vector<int> options);

// Rows ranked by ascending importance (ties by index); the rows whose rank lies in
// [round(q_{m-1}·n), round(q_m·n)) get the m-th smallest option (q_0 = 0, q_k = 1).
// `quantiles` holds k − 1 non-decreasing cut points in [0, 1] (k distinct options); empty
// means equal bins.
std::vector<int> allocate_quantile(const std::vector<float>& importance,
                                   const std::vector<int>& options,
                                   const std::vector<double>& quantiles = {});

// Cut points whose bin fractions f_m ∝ exp(−μ·options[m]) (options sorted) have mean
// option = avg_bits: the maximum-entropy spread of the options around a target, for the
// quantile allocator. The realised average is exact only up to the rounding of the cuts.
std::vector<double> quantiles_for_target(const std::vector<int>& options, double avg_bits);

// The largest total Σ b_i with each b_i an option that is <= avg_bits · rows (the
// "granularity of one row": the exact target when it is attainable). Throws when
// avg_bits is below the smallest option or above the largest.
int64_t attainable_total(int64_t rows, const std::vector<int>& options, double avg_bits);

struct BudgetSolverOptions {
    // Exact dynamic programming when rows · (attainable range) · options stays below this.
    double exact_limit = 3e7;
    // Half-width (in bits) of the residual DP that repairs the Lagrangian solution.
    int repair_window = 56;
};

// Minimises Σ cost[i·k + m] over choices m_i subject to Σ options[m_i] =
// attainable_total(rows, options, avg_bits) exactly (k = options.size(); cost columns in
// the order of `options`). Small problems are solved exactly by DP; large ones by the
// Lagrangian greedy over each row's lower convex hull, then a windowed DP over all rows
// and options that closes the remaining gap at least cost (O(rows·k·log(rows·k)) +
// O(rows·k·window)). Returns the chosen bit widths.
std::vector<int> solve_budget(const std::vector<double>& cost, int64_t rows,
                              const std::vector<int>& options, double avg_bits,
                              const BudgetSolverOptions& solver = {});

// Heuristic budget allocation: cost_i(b) = I_i² · 4^-b (the high-resolution quantization
// noise of a row whose output scale is I_i), so bits go to rows by log2 of importance.
std::vector<int> allocate_budget(const std::vector<float>& importance,
                                 const std::vector<int>& options, double avg_bits,
                                 const BudgetSolverOptions& solver = {});

// Error-driven allocation: errors is rows × options (row-major, columns in the order of
// `options`), the estimated error of each row at each option (see mixed_error.hpp).
std::vector<int> allocate_error(const std::vector<double>& errors, int64_t rows,
                                const std::vector<int>& options, double avg_bits,
                                const BudgetSolverOptions& solver = {});

// Rows that share a set of options and a storage weight per bit (a layer: its rows, with
// weight = columns, so a row at b bits stores b·weight bits).
struct BudgetGroup {
    std::vector<int> options;  // any order, distinct, 1..8
    int64_t weight = 1;
    int64_t rows = 0;
    std::vector<double> cost;  // rows × options, columns in the order of `options`
};

// Minimises Σ cost over every row of every group subject to Σ b·weight <= budget: rows
// start at their smallest option and take the steps along their lower convex hulls of
// (storage, cost) with the most cost removed per stored bit first, while they fit (the
// Lagrangian solution, optimal for the storage it reaches; what is left unspent is less
// than the step that did not fit). O(R·k·log(R·k)) for R rows. Throws when even the
// smallest options exceed the budget. Returns the bits per group, per row.
std::vector<std::vector<int>> solve_grouped_budget(const std::vector<BudgetGroup>& groups,
                                                   int64_t budget);

// Σ_i cost[i·k + index of bits[i] in options]: the objective value of an allocation.
double allocation_cost(const std::vector<double>& cost, const std::vector<int>& options,
                       const std::vector<int>& bits);

}  // namespace surgeon
