#include "layer/quant/allocation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.hpp"

namespace surgeon {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void check_option(int b) {
    require_arg(b >= 1 && b <= 8, "bit option must be in [1, 8], got " + std::to_string(b));
}

// Indices of `options` by ascending bit width; throws on an empty set, a value outside
// 1..8 or a duplicate (cost columns would be ambiguous).
std::vector<int> sorted_index(const std::vector<int>& options) {
    require_arg(!options.empty(), "the set of bit options is empty");
    for (int b : options) check_option(b);
    std::vector<int> idx(options.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](int a, int b) { return options[a] < options[b]; });
    for (size_t m = 1; m < idx.size(); ++m)
        require_arg(options[idx[m]] != options[idx[m - 1]],
                    "bit option " + std::to_string(options[idx[m]]) + " is listed twice");
    return idx;
}

void require_finite_values(const std::vector<float>& v, const char* what) {
    for (size_t i = 0; i < v.size(); ++i)
        require(std::isfinite(v[i]), SURGEON_ERR_NUMERIC,
                std::string(what) + " is not finite at row " + std::to_string(i));
}

// The budget problem in sorted option order: o[m] ascending, c(i, m) the cost.
struct Budget {
    int64_t rows;
    int k;
    std::vector<int> o;         // sorted options
    std::vector<double> c;      // rows × k, sorted option order
    int64_t span;               // bits to add above rows · o[0]
    double cost(int64_t i, int m) const { return c[static_cast<size_t>(i * k + m)]; }
};

// Exact DP over (row, bits added so far): O(rows · span · k) time, rows · span bytes.
std::vector<int> solve_exact(const Budget& p) {
    const int64_t width = p.span + 1;
    std::vector<double> cur(static_cast<size_t>(width), kInf), next(cur.size());
    std::vector<uint8_t> choice(static_cast<size_t>(p.rows * width), 0);
    cur[0] = 0.0;
    for (int64_t i = 0; i < p.rows; ++i) {
        std::fill(next.begin(), next.end(), kInf);
        uint8_t* ch = choice.data() + i * width;
        for (int m = 0; m < p.k; ++m) {
            const int64_t d = p.o[m] - p.o[0];
            const double c = p.cost(i, m);
            for (int64_t s = d; s < width; ++s) {
                const double v = cur[s - d] + c;
                if (v < next[s]) {
                    next[s] = v;
                    ch[s] = static_cast<uint8_t>(m);
                }
            }
        }
        cur.swap(next);
    }
    require(cur[p.span] < kInf, SURGEON_ERR_INTERNAL, "budget DP found no exact allocation");
    std::vector<int> pick(static_cast<size_t>(p.rows));
    int64_t s = p.span;
    for (int64_t i = p.rows - 1; i >= 0; --i) {
        pick[i] = choice[i * width + s];
        s -= p.o[pick[i]] - p.o[0];
    }
    return pick;
}

// Indices 0..k-1 of the lower convex hull of the points (x(m), y(m)), x ascending in m.
template <typename X, typename Y>
void lower_hull(int k, X x, Y y, std::vector<int>& hull) {
    hull.clear();
    for (int m = 0; m < k; ++m) {
        while (hull.size() >= 2) {
            const int a = hull[hull.size() - 2], b = hull.back();
            const double s_ab = (y(b) - y(a)) / (x(b) - x(a));
            const double s_bm = (y(m) - y(b)) / (x(m) - x(b));
            if (s_ab >= s_bm) hull.pop_back();
            else break;
        }
        hull.push_back(m);
    }
}

// Lagrangian greedy (solve_grouped_budget with one group): along each row's lower convex
// hull of (bits, cost), the cheapest cost-per-bit steps first while they fit. Optimal for
// the total it reaches, which lies less than one step below the span. Returns positions
// in p.o; used = the bits added above rows · o[0].
std::vector<int> solve_lagrangian(const Budget& p, int64_t& used) {
    const BudgetGroup all{p.o, 1, p.rows, p.c};
    const std::vector<int> bits = solve_grouped_budget({all}, p.rows * p.o[0] + p.span).front();
    std::vector<int> pick(bits.size());
    used = 0;
    for (size_t i = 0; i < bits.size(); ++i) {
        pick[i] = static_cast<int>(std::lower_bound(p.o.begin(), p.o.end(), bits[i]) - p.o.begin());
        used += bits[i] - p.o[0];
    }
    return pick;
}

// Closes the gap between a start allocation and the span exactly: the cheapest set of
// row changes (any row to any option) whose bit deltas sum to the gap, with partial sums
// kept within [−window, gap + window]. Returns false when no such set exists.
bool repair(const Budget& p, std::vector<int>& pick, int64_t gap, int window) {
    if (gap == 0) return true;
    const int64_t lo = -window, width = gap + 2 * int64_t{window} + 1;
    std::vector<double> cur(static_cast<size_t>(width), kInf), next(cur.size());
    std::vector<uint8_t> choice(static_cast<size_t>(p.rows * width), 0);
    cur[-lo] = 0.0;
    for (int64_t i = 0; i < p.rows; ++i) {
        std::fill(next.begin(), next.end(), kInf);
        uint8_t* ch = choice.data() + i * width;
        const int from = pick[i];
        const double base = p.cost(i, from);
        for (int step = 0; step < p.k; ++step) {
            const int m = (from + step) % p.k;  // staying put is tried first: ties keep it
            const int64_t d = p.o[m] - p.o[from];
            const double dc = p.cost(i, m) - base;
            for (int64_t s = std::max<int64_t>(0, -d); s < std::min(width, width - d); ++s) {
                if (cur[s] == kInf) continue;
                const double v = cur[s] + dc;
                if (v < next[s + d]) {
                    next[s + d] = v;
                    ch[s + d] = static_cast<uint8_t>(m);
                }
            }
        }
        cur.swap(next);
    }
    if (!(cur[gap - lo] < kInf)) return false;
    int64_t t = gap - lo;
    for (int64_t i = p.rows - 1; i >= 0; --i) {
        const int m = choice[i * width + t];
        t -= p.o[m] - p.o[pick[i]];
        pick[i] = m;
    }
    return true;
}

}  // namespace

std::vector<int> default_bit_options() { return {2, 3, 4, 6, 8}; }

std::vector<int> normalize_bit_options(std::vector<int> options) {
    require_arg(!options.empty(), "the set of bit options is empty");
    for (int b : options) check_option(b);
    std::sort(options.begin(), options.end());
    options.erase(std::unique(options.begin(), options.end()), options.end());
    return options;
}

std::vector<int> allocate_quantile(const std::vector<float>& importance,
                                   const std::vector<int>& options,
                                   const std::vector<double>& quantiles) {
    const std::vector<int> opts = normalize_bit_options(options);
    const int k = static_cast<int>(opts.size());
    require_finite_values(importance, "importance");
    std::vector<double> q = quantiles;
    if (q.empty()) {
        for (int m = 1; m < k; ++m) q.push_back(static_cast<double>(m) / k);
    }
    require_arg(static_cast<int>(q.size()) == k - 1,
                std::to_string(q.size()) + " quantile cut points for " + std::to_string(k) +
                    " bit options (need " + std::to_string(k - 1) + ")");
    for (size_t m = 0; m < q.size(); ++m) {
        require_arg(std::isfinite(q[m]) && q[m] >= 0.0 && q[m] <= 1.0,
                    "quantile cut points must lie in [0, 1], got " + std::to_string(q[m]));
        require_arg(m == 0 || q[m] >= q[m - 1], "quantile cut points must be non-decreasing");
    }
    const int64_t n = static_cast<int64_t>(importance.size());
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return importance[a] < importance[b]; });
    std::vector<int> bits(static_cast<size_t>(n), opts.back());
    int64_t begin = 0;
    for (int m = 0; m < k; ++m) {
        const int64_t end = m + 1 < k ? std::llround(q[m] * static_cast<double>(n)) : n;
        for (int64_t rank = begin; rank < end; ++rank) bits[order[rank]] = opts[m];
        begin = std::max(begin, end);
    }
    return bits;
}

std::vector<double> quantiles_for_target(const std::vector<int>& options, double avg_bits) {
    const std::vector<int> opts = normalize_bit_options(options);
    const size_t k = opts.size();
    require_arg(std::isfinite(avg_bits) && avg_bits >= opts.front() && avg_bits <= opts.back(),
                "target average " + std::to_string(avg_bits) + " bits lies outside the options [" +
                    std::to_string(opts.front()) + ", " + std::to_string(opts.back()) + "]");
    std::vector<double> f(k);
    auto fractions = [&](double mu) {  // f_m ∝ exp(−μ·o_m), shifted against overflow
        double top = -kInf, sum = 0.0, mean = 0.0;
        for (int b : opts) top = std::max(top, -mu * b);
        for (size_t m = 0; m < k; ++m) sum += f[m] = std::exp(-mu * opts[m] - top);
        for (size_t m = 0; m < k; ++m) mean += (f[m] /= sum) * opts[m];
        return mean;
    };
    double lo = -200.0, hi = 200.0;  // the mean decreases with μ
    for (int it = 0; it < 200; ++it) {
        const double mid = 0.5 * (lo + hi);
        if (fractions(mid) > avg_bits) lo = mid;
        else hi = mid;
    }
    fractions(0.5 * (lo + hi));
    std::vector<double> cuts;
    double acc = 0.0;
    for (size_t m = 0; m + 1 < k; ++m) cuts.push_back(std::min(1.0, acc += f[m]));
    return cuts;
}

int64_t attainable_total(int64_t rows, const std::vector<int>& options, double avg_bits) {
    const std::vector<int> opts = normalize_bit_options(options);
    require_arg(rows >= 1, "rows must be >= 1, got " + std::to_string(rows));
    require_arg(std::isfinite(avg_bits) && avg_bits >= opts.front() - 1e-9 &&
                    avg_bits <= opts.back() + 1e-9,
                "target average " + std::to_string(avg_bits) + " bits lies outside the options [" +
                    std::to_string(opts.front()) + ", " + std::to_string(opts.back()) + "]");
    const int64_t base = rows * opts.front();
    // Tolerate the representation error of a decimal target (3.3 · 10 = 32.999…).
    const int64_t target = std::clamp(
        static_cast<int64_t>(std::floor(avg_bits * static_cast<double>(rows) + 1e-7)), base,
        rows * opts.back());
    const int64_t span = target - base;
    // fewest[s]: the fewest rows that must leave the smallest option to add exactly s bits
    // (coin change over the gaps to the smallest option).
    constexpr int64_t kNever = std::numeric_limits<int64_t>::max() / 2;
    std::vector<int64_t> fewest(static_cast<size_t>(span + 1), kNever);
    fewest[0] = 0;
    for (int64_t s = 1; s <= span; ++s)
        for (size_t m = 1; m < opts.size(); ++m) {
            const int64_t d = opts[m] - opts.front();
            if (d <= s) fewest[s] = std::min(fewest[s], fewest[s - d] + 1);
        }
    for (int64_t s = span; s > 0; --s)
        if (fewest[s] <= rows) return base + s;
    return base;
}

std::vector<int> solve_budget(const std::vector<double>& cost, int64_t rows,
                              const std::vector<int>& options, double avg_bits,
                              const BudgetSolverOptions& solver) {
    const std::vector<int> idx = sorted_index(options);
    const int k = static_cast<int>(options.size());
    require_arg(rows >= 1, "rows must be >= 1, got " + std::to_string(rows));
    require_shape(static_cast<int64_t>(cost.size()) == rows * k,
                  "cost has " + std::to_string(cost.size()) + " entries for " +
                      std::to_string(rows) + " rows x " + std::to_string(k) + " options");
    Budget p;
    p.rows = rows;
    p.k = k;
    for (int m = 0; m < k; ++m) p.o.push_back(options[idx[m]]);
    p.c.resize(cost.size());
    for (int64_t i = 0; i < rows; ++i)
        for (int m = 0; m < k; ++m) {
            const double v = cost[static_cast<size_t>(i * k + idx[m])];
            require(std::isfinite(v), SURGEON_ERR_NUMERIC,
                    "cost of row " + std::to_string(i) + " is not finite");
            p.c[static_cast<size_t>(i * k + m)] = v;
        }
    p.span = attainable_total(rows, options, avg_bits) - rows * p.o[0];

    std::vector<int> pick;
    const double exact_work = static_cast<double>(rows) * static_cast<double>(p.span + 1) * k;
    if (exact_work <= solver.exact_limit) {
        pick = solve_exact(p);
    } else {
        int64_t used = 0;
        pick = solve_lagrangian(p, used);
        if (!repair(p, pick, p.span - used, std::max(solver.repair_window, 8))) {
            // Only pathological option sets need more than the window; the exact DP is
            // always correct, if slower.
            require(static_cast<double>(rows) * static_cast<double>(p.span + 1) <= 2e9,
                    SURGEON_ERR_INTERNAL, "budget repair found no exact allocation");
            pick = solve_exact(p);
        }
    }
    std::vector<int> bits(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) bits[i] = p.o[pick[i]];
    return bits;
}

std::vector<int> allocate_budget(const std::vector<float>& importance,
                                 const std::vector<int>& options, double avg_bits,
                                 const BudgetSolverOptions& solver) {
    require_finite_values(importance, "importance");
    const std::vector<int> opts = normalize_bit_options(options);
    require_arg(opts.size() == options.size(), "a bit option is listed twice");
    const int64_t rows = static_cast<int64_t>(importance.size());
    const size_t k = options.size();
    std::vector<double> cost(static_cast<size_t>(rows) * k);
    for (int64_t i = 0; i < rows; ++i) {
        const double imp = importance[i];
        require_arg(imp >= 0.0, "importance must be >= 0, got " + std::to_string(imp) +
                                    " at row " + std::to_string(i));
        for (size_t m = 0; m < k; ++m)
            cost[i * k + m] = imp * imp * std::ldexp(1.0, -2 * options[m]);
    }
    return solve_budget(cost, rows, options, avg_bits, solver);
}

std::vector<int> allocate_error(const std::vector<double>& errors, int64_t rows,
                                const std::vector<int>& options, double avg_bits,
                                const BudgetSolverOptions& solver) {
    return solve_budget(errors, rows, options, avg_bits, solver);
}

double allocation_cost(const std::vector<double>& cost, const std::vector<int>& options,
                       const std::vector<int>& bits) {
    const size_t k = options.size();
    require_shape(cost.size() == bits.size() * k, "cost and allocation sizes disagree");
    double total = 0.0;
    for (size_t i = 0; i < bits.size(); ++i) {
        const auto it = std::find(options.begin(), options.end(), bits[i]);
        require_arg(it != options.end(), "row " + std::to_string(i) + " has " +
                                             std::to_string(bits[i]) + " bits, not an option");
        total += cost[i * k + static_cast<size_t>(it - options.begin())];
    }
    return total;
}

std::vector<std::vector<int>> solve_grouped_budget(const std::vector<BudgetGroup>& groups,
                                                   int64_t budget) {
    struct Step {
        double gain;  // cost removed per unit of storage
        size_t group;
        int64_t row;
        int from, to;  // positions in the group's sorted options
    };
    std::vector<std::vector<int>> sorted(groups.size());
    std::vector<std::vector<int>> pick(groups.size());
    std::vector<Step> steps;
    int64_t used = 0;
    std::vector<int> hull;
    for (size_t g = 0; g < groups.size(); ++g) {
        const BudgetGroup& G = groups[g];
        sorted[g] = sorted_index(G.options);
        const auto k = static_cast<int>(G.options.size());
        require_arg(G.weight >= 1 && G.rows >= 0, "budget group needs a positive weight");
        require_shape(G.cost.size() == static_cast<size_t>(G.rows) * G.options.size(),
                      "budget group costs are not rows x options");
        const std::vector<int>& idx = sorted[g];
        auto bits = [&](int m) { return static_cast<double>(G.options[idx[m]]) * G.weight; };
        pick[g].assign(static_cast<size_t>(G.rows), 0);
        used += static_cast<int64_t>(G.options[idx[0]]) * G.weight * G.rows;
        for (int64_t i = 0; i < G.rows; ++i) {
            const double* c = G.cost.data() + i * k;
            for (int m = 0; m < k; ++m)
                require(std::isfinite(c[idx[m]]), SURGEON_ERR_NUMERIC,
                        "cost of row " + std::to_string(i) + " of group " + std::to_string(g) + " is not finite");
            lower_hull(k, bits, [&](int m) { return c[idx[m]]; }, hull);
            for (size_t h = 1; h < hull.size(); ++h) {
                const int a = hull[h - 1], b = hull[h];
                steps.push_back({(c[idx[a]] - c[idx[b]]) / (bits(b) - bits(a)), g, i, a, b});
            }
        }
    }
    require_arg(used <= budget, "the budget of " + std::to_string(budget) +
                                    " is below the smallest options (" + std::to_string(used) + ")");
    std::sort(steps.begin(), steps.end(), [](const Step& x, const Step& y) {
        if (x.gain != y.gain) return x.gain > y.gain;
        if (x.group != y.group) return x.group < y.group;
        return x.row != y.row ? x.row < y.row : x.from < y.from;
    });
    std::vector<std::vector<uint8_t>> blocked(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) blocked[g].assign(pick[g].size(), 0);
    for (const Step& s : steps) {
        int& at = pick[s.group][static_cast<size_t>(s.row)];
        if (blocked[s.group][static_cast<size_t>(s.row)] || at != s.from) continue;
        const BudgetGroup& G = groups[s.group];
        const int64_t d = (G.options[sorted[s.group][s.to]] - G.options[sorted[s.group][s.from]]) * G.weight;
        if (used + d <= budget) {
            at = s.to;
            used += d;
        } else {
            blocked[s.group][static_cast<size_t>(s.row)] = 1;  // later steps must not skip this one
        }
    }
    std::vector<std::vector<int>> out(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) {
        out[g].resize(pick[g].size());
        for (size_t i = 0; i < pick[g].size(); ++i) out[g][i] = groups[g].options[sorted[g][pick[g][i]]];
    }
    return out;
}

}  // namespace surgeon
