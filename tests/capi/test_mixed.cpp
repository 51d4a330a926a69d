// The mixed-precision C API end to end, and its error paths (buffers left untouched).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "surgeon/surgeon.h"

namespace {

constexpr int64_t kRows = 48, kCols = 64, kTokens = 400;

struct Layer {
    surgeon_hessian* h = nullptr;
    surgeon_solver* s = nullptr;
    surgeon_quantizer* q = nullptr;
    std::vector<float> w;
    Layer() {
        std::mt19937 rng(3);
        std::normal_distribution<float> g;
        std::vector<float> x(kTokens * kCols);
        for (int64_t t = 0; t < kTokens; ++t)
            for (int64_t c = 0; c < kCols; ++c) x[t * kCols + c] = g(rng) * (1.0f + (c % 7)) + 0.3f;
        w.resize(kRows * kCols);
        for (int64_t r = 0; r < kRows; ++r)
            for (int64_t c = 0; c < kCols; ++c) w[r * kCols + c] = g(rng) * (0.1f + 0.05f * (r % 5));
        EXPECT_EQ(surgeon_hessian_new(&h, nullptr, kCols), SURGEON_OK);
        EXPECT_EQ(surgeon_hessian_add_f32(h, x.data(), kTokens, kCols, 0), SURGEON_OK);
        EXPECT_EQ(surgeon_solver_new(&s, nullptr, h, nullptr), SURGEON_OK);
        EXPECT_EQ(surgeon_quantizer_new(&q, 4), SURGEON_OK);
    }
    ~Layer() {
        surgeon_quantizer_free(q);
        surgeon_solver_free(s);
        surgeon_hessian_free(h);
    }
};

const int32_t kOptions[] = {2, 3, 4, 6, 8};

// Allocation options: bit options and a target average.
struct Mixed {
    surgeon_mixed_options* o = nullptr;
    Mixed(const int32_t* options, int n_options, double avg_bits) {
        EXPECT_EQ(surgeon_mixed_options_new(&o), SURGEON_OK);
        EXPECT_EQ(surgeon_mixed_options_set_bits(o, options, n_options), SURGEON_OK) << surgeon_last_error();
        EXPECT_EQ(surgeon_mixed_options_set_average(o, avg_bits), SURGEON_OK) << surgeon_last_error();
    }
    ~Mixed() { surgeon_mixed_options_free(o); }
    Mixed(const Mixed&) = delete;
    Mixed& operator=(const Mixed&) = delete;
};

TEST(CapiMixed, EndToEnd) {
    Layer st;
    double wts[SURGEON_SIGNAL_COUNT];
    ASSERT_EQ(surgeon_importance_default_weights(wts), SURGEON_OK);
    EXPECT_DOUBLE_EQ(wts[SURGEON_SIGNAL_WEIGHT], 0.15);
    surgeon_importance* imp = nullptr;
    ASSERT_EQ(surgeon_importance_compute(&imp, st.h, st.s, st.w.data(), kRows, kCols, 0, nullptr),
              SURGEON_OK)
        << surgeon_last_error();
    int64_t rows = 0;
    ASSERT_EQ(surgeon_importance_rows(imp, &rows), SURGEON_OK);
    EXPECT_EQ(rows, kRows);
    std::vector<float> score(kRows), sig(kRows);
    ASSERT_EQ(surgeon_importance_scores(imp, score.data()), SURGEON_OK);
    for (int s = 0; s < SURGEON_SIGNAL_COUNT; ++s) {
        int avail = -1;
        ASSERT_EQ(surgeon_importance_signal_values(imp, static_cast<surgeon_importance_signal>(s), sig.data(), &avail),
                  SURGEON_OK);
        EXPECT_EQ(avail, 1);
        double mean = 0;
        for (float v : sig) mean += v / kRows;
        EXPECT_NEAR(mean, 1.0, 1e-5);  // normalised to mean 1
    }
    // Without a solver: a private factorization gives the same scores.
    surgeon_importance* imp2 = nullptr;
    ASSERT_EQ(surgeon_importance_compute(&imp2, st.h, nullptr, st.w.data(), kRows, kCols, 0, wts), SURGEON_OK);
    std::vector<float> score2(kRows);
    ASSERT_EQ(surgeon_importance_scores(imp2, score2.data()), SURGEON_OK);
    for (int64_t i = 0; i < kRows; ++i) EXPECT_NEAR(score[i], score2[i], 1e-5);
    surgeon_importance_free(imp2);

    std::vector<int32_t> bits(kRows);
    ASSERT_EQ(surgeon_allocate_budget(imp, Mixed(kOptions, 5, 3.5).o, bits.data()), SURGEON_OK);
    int64_t sum = 0;
    for (int32_t b : bits) sum += b;
    EXPECT_EQ(sum, 168);  // 3.5 · 48
    Mixed at4(kOptions, 5, 4.0);
    ASSERT_EQ(surgeon_allocate_quantile(imp, at4.o, bits.data()), SURGEON_OK);
    const double cuts[] = {0.2, 0.4, 0.6, 0.8};
    ASSERT_EQ(surgeon_mixed_options_set_quantiles(at4.o, cuts, 4), SURGEON_OK);
    ASSERT_EQ(surgeon_allocate_quantile(imp, at4.o, bits.data()), SURGEON_OK);
    // Equal-width quantile bands: ranks 0..9 get 2 bits, ..., 38..47 get 8 bits.
    std::vector<float> order_scores = score;
    std::vector<int64_t> rank(kRows);
    for (int64_t i = 0; i < kRows; ++i) rank[i] = i;
    std::stable_sort(rank.begin(), rank.end(), [&](int64_t a, int64_t b) { return order_scores[a] < order_scores[b]; });
    std::vector<int> per_option(9, 0);
    for (int32_t b : bits) ++per_option[b];
    EXPECT_EQ(per_option[2] + per_option[3] + per_option[4] + per_option[6] + per_option[8], kRows);
    EXPECT_EQ(bits[rank[0]], 2);
    EXPECT_EQ(bits[rank[kRows - 1]], 8);

    Mixed at3(kOptions, 5, 3.0);
    std::vector<double> errors(kRows * 5);
    ASSERT_EQ(surgeon_mixed_row_errors(st.s, st.w.data(), kRows, kCols, 0, st.q, at3.o, errors.data()), SURGEON_OK);
    ASSERT_EQ(surgeon_allocate_error(errors.data(), kRows, at3.o, bits.data()), SURGEON_OK);
    sum = 0;
    for (int32_t b : bits) sum += b;
    EXPECT_EQ(sum, 3 * kRows);

    surgeon_qresult* res = nullptr;
    ASSERT_EQ(surgeon_qresult_new(&res), SURGEON_OK);
    std::vector<float> w = st.w;
    ASSERT_EQ(surgeon_quantizer_set_row_bits(st.q, bits.data(), kRows), SURGEON_OK);
    ASSERT_EQ(surgeon_solver_quantize(st.s, w.data(), kRows, kCols, 0, st.q, res, nullptr), SURGEON_OK);
    std::vector<int32_t> back(kRows);
    ASSERT_EQ(surgeon_qresult_row_bits(res, back.data()), SURGEON_OK);
    EXPECT_EQ(back, bits);
    std::vector<uint8_t> codes(kRows * kCols);
    ASSERT_EQ(surgeon_qresult_codes(res, codes.data()), SURGEON_OK);
    for (int64_t r = 0; r < kRows; ++r)
        for (int64_t c = 0; c < kCols; ++c) ASSERT_LT(codes[r * kCols + c], 1 << bits[r]);

    std::vector<float> wp = st.w;
    surgeon_prune_options* popts = nullptr;
    ASSERT_EQ(surgeon_prune_options_new(&popts), SURGEON_OK);
    ASSERT_EQ(surgeon_prune_options_set_quantizer(popts, st.q), SURGEON_OK);
    surgeon_prune_result* pr = nullptr;
    ASSERT_EQ(surgeon_prune_result_new(&pr), SURGEON_OK);
    ASSERT_EQ(surgeon_solver_prune(st.s, wp.data(), kRows, kCols, 0, popts, pr), SURGEON_OK);
    surgeon_mask* mask = nullptr;
    ASSERT_EQ(surgeon_prune_result_mask(pr, &mask), SURGEON_OK);
    double sparsity = 0;
    ASSERT_EQ(surgeon_mask_sparsity(mask, &sparsity), SURGEON_OK);
    EXPECT_NEAR(sparsity, 0.5, 1e-9);  // the default sparsity
    surgeon_mask_free(mask);
    surgeon_qresult* joint = nullptr;
    ASSERT_EQ(surgeon_prune_result_qresult(pr, &joint), SURGEON_OK);
    ASSERT_NE(joint, nullptr);
    ASSERT_EQ(surgeon_qresult_row_bits(joint, back.data()), SURGEON_OK);
    EXPECT_EQ(back, bits);
    surgeon_qresult_free(joint);
    surgeon_prune_result_free(pr);
    surgeon_prune_options_free(popts);

    surgeon_mixed_stats stats = SURGEON_MIXED_STATS_INIT;
    ASSERT_EQ(surgeon_mixed_stats_compute(bits.data(), kRows, kCols, 32, 16, -1, imp, &stats), SURGEON_OK);
    EXPECT_EQ(stats.channels, kRows);
    EXPECT_EQ(stats.grids, kRows * 2);
    EXPECT_DOUBLE_EQ(stats.avg_bits, 3.0);
    EXPECT_DOUBLE_EQ(stats.avg_bits_with_overhead, 3.0 + (2.0 * 16 * kRows + 2.0 * 3 * kRows) / (kRows * kCols));
    EXPECT_EQ(stats.has_importance, 1);
    int64_t hist = 0;
    for (int b = 1; b <= 8; ++b) hist += stats.histogram[b];
    EXPECT_EQ(hist, kRows);

    size_t len = 0;
    ASSERT_EQ(surgeon_mixed_stats_json(&stats, nullptr, 0, &len), SURGEON_OK);
    std::string text(len, '\0');
    ASSERT_EQ(surgeon_mixed_stats_json(&stats, text.data(), text.size(), &len), SURGEON_OK);
    EXPECT_EQ(text.back(), '\0');
    const auto j = nlohmann::json::parse(text.c_str());
    EXPECT_DOUBLE_EQ(j["avg_bits"].get<double>(), 3.0);
    EXPECT_NEAR(j["avg_bits_with_overhead"].get<double>(), stats.avg_bits_with_overhead, 1e-12);
    EXPECT_EQ(j["channels"], kRows);
    EXPECT_EQ(j["grids"], kRows * 2);
    EXPECT_DOUBLE_EQ(j["importance"]["mean"].get<double>(), stats.importance_mean);

    double avg = 0;
    const int32_t even[] = {2, 4, 8};
    ASSERT_EQ(surgeon_attainable_average(5, Mixed(even, 3, 3.0).o, &avg), SURGEON_OK);
    EXPECT_DOUBLE_EQ(avg, 14.0 / 5.0);

    surgeon_qresult_free(res);
    surgeon_importance_free(imp);
}

TEST(CapiMixed, ErrorsLeaveBuffersUntouched) {
    Layer st;
    surgeon_importance* imp = reinterpret_cast<surgeon_importance*>(0x1);
    EXPECT_EQ(surgeon_importance_compute(&imp, nullptr, nullptr, st.w.data(), kRows, kCols, 0, nullptr),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(imp, reinterpret_cast<surgeon_importance*>(0x1));
    EXPECT_NE(std::string(surgeon_last_error()).find("surgeon_importance_compute"), std::string::npos);
    EXPECT_EQ(surgeon_importance_compute(&imp, st.h, nullptr, st.w.data(), kRows, kCols - 1, 0, nullptr),
              SURGEON_ERR_SHAPE);
    const double negative[] = {0.25, -1, 0, 0, 0};
    EXPECT_EQ(surgeon_importance_compute(&imp, st.h, nullptr, st.w.data(), kRows, kCols, 0, negative),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(imp, reinterpret_cast<surgeon_importance*>(0x1));

    imp = nullptr;
    ASSERT_EQ(surgeon_importance_compute(&imp, st.h, st.s, st.w.data(), kRows, kCols, 0, nullptr), SURGEON_OK);
    std::vector<int32_t> bits(kRows, 77);
    // Invalid option values are refused by the setters; the options keep their values.
    Mixed mo(kOptions, 5, 3.0);
    const int32_t bad_range[] = {0, 4};
    const int32_t dup[] = {4, 4};
    EXPECT_EQ(surgeon_mixed_options_set_bits(mo.o, bad_range, 2), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_mixed_options_set_bits(mo.o, dup, 2), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_mixed_options_set_bits(mo.o, kOptions, 0), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_mixed_options_set_bits(mo.o, nullptr, 5), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_mixed_options_set_average(mo.o, 0.0), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_mixed_options_set_average(mo.o, std::nan("")), SURGEON_ERR_INVALID_ARGUMENT);
    const double bad_cuts[] = {0.5, 0.2, 0.6, 0.8};
    EXPECT_EQ(surgeon_mixed_options_set_quantiles(mo.o, bad_cuts, 4), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_mixed_options_set_quantiles(mo.o, bad_cuts, -1), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(std::string(surgeon_last_error()).rfind("surgeon_mixed_options_set_quantiles: ", 0) == 0);
    size_t n_bits = 0;
    ASSERT_EQ(surgeon_mixed_options_get_bits(mo.o, nullptr, 0, &n_bits), SURGEON_OK);
    ASSERT_EQ(n_bits, 5u);
    std::vector<int32_t> got_bits(5);
    ASSERT_EQ(surgeon_mixed_options_get_bits(mo.o, got_bits.data(), 5, &n_bits), SURGEON_OK);
    EXPECT_EQ(got_bits, std::vector<int32_t>(kOptions, kOptions + 5));
    double got_avg = 0;
    ASSERT_EQ(surgeon_mixed_options_get_average(mo.o, &got_avg), SURGEON_OK);
    EXPECT_EQ(got_avg, 3.0);
    // Values valid one by one that do not fit together fail at the call.
    EXPECT_EQ(surgeon_allocate_budget(imp, Mixed(kOptions, 5, 9.0).o, bits.data()), SURGEON_ERR_INVALID_ARGUMENT);
    const double three_cuts[] = {0.2, 0.4, 0.6};
    ASSERT_EQ(surgeon_mixed_options_set_quantiles(mo.o, three_cuts, 3), SURGEON_OK);
    EXPECT_EQ(surgeon_allocate_quantile(imp, mo.o, bits.data()), SURGEON_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(surgeon_mixed_options_set_quantiles(mo.o, nullptr, 0), SURGEON_OK);
    std::vector<double> errors(kRows * 5, 1.0);
    errors[7] = std::nan("");
    EXPECT_EQ(surgeon_allocate_error(errors.data(), kRows, mo.o, bits.data()), SURGEON_ERR_NUMERIC);
    for (int32_t b : bits) EXPECT_EQ(b, 77);

    std::vector<double> e(kRows * 5, -5.0);
    EXPECT_EQ(surgeon_mixed_row_errors(st.s, st.w.data(), kRows, kCols + 1, 0, st.q, mo.o, e.data()), SURGEON_ERR_SHAPE);
    EXPECT_EQ(surgeon_mixed_row_errors(st.s, st.w.data(), kRows, kCols, 0, nullptr, mo.o, e.data()),
              SURGEON_ERR_INVALID_ARGUMENT);
    for (double v : e) EXPECT_EQ(v, -5.0);

    // Bad per-row widths are refused by the quantizer, which keeps its widths; widths for
    // another row count fail at the call and the weights keep their values.
    std::vector<int32_t> rb(kRows, 3);
    rb[5] = 9;
    std::vector<float> w = st.w;
    EXPECT_EQ(surgeon_quantizer_set_row_bits(st.q, rb.data(), kRows), SURGEON_ERR_INVALID_ARGUMENT);
    rb[5] = 0;
    EXPECT_EQ(surgeon_quantizer_set_row_bits(st.q, rb.data(), kRows), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_quantizer_set_row_bits(st.q, rb.data(), -1), SURGEON_ERR_INVALID_ARGUMENT);
    size_t n_rows = 99;
    ASSERT_EQ(surgeon_quantizer_get_row_bits(st.q, nullptr, 0, &n_rows), SURGEON_OK);
    EXPECT_EQ(n_rows, 0u);
    std::vector<int32_t> fewer(kRows - 1, 4);
    ASSERT_EQ(surgeon_quantizer_set_row_bits(st.q, fewer.data(), kRows - 1), SURGEON_OK);
    EXPECT_EQ(surgeon_solver_quantize(st.s, w.data(), kRows, kCols, 0, st.q, nullptr, nullptr), SURGEON_ERR_SHAPE);
    EXPECT_EQ(std::memcmp(w.data(), st.w.data(), w.size() * sizeof(float)), 0);
    ASSERT_EQ(surgeon_quantizer_set_row_bits(st.q, nullptr, 0), SURGEON_OK);
    ASSERT_EQ(surgeon_quantizer_get_row_bits(st.q, nullptr, 0, &n_rows), SURGEON_OK);
    EXPECT_EQ(n_rows, 0u);

    surgeon_mixed_stats stats;
    std::memset(&stats, 0xAB, sizeof stats);
    stats.version = SURGEON_MIXED_STATS_VERSION;
    surgeon_mixed_stats copy = stats;
    EXPECT_EQ(surgeon_mixed_stats_compute(rb.data(), kRows, kCols, 0, 16, -1, nullptr, &stats),
              SURGEON_ERR_INVALID_ARGUMENT);  // row 5 has 0 bits
    rb[5] = 3;
    EXPECT_EQ(surgeon_mixed_stats_compute(rb.data(), kRows, kCols, 0, 16, -1, imp, nullptr), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_mixed_stats_compute(rb.data(), kRows - 1, kCols, 0, 16, -1, imp, &stats), SURGEON_ERR_SHAPE);
    EXPECT_EQ(std::memcmp(&stats, &copy, sizeof stats), 0);
    // A buffer too small: the size is reported, the buffer stays as it was.
    surgeon_mixed_stats good = SURGEON_MIXED_STATS_INIT;
    ASSERT_EQ(surgeon_mixed_stats_compute(rb.data(), kRows, kCols, 0, 16, -1, imp, &good), SURGEON_OK);
    char small[8];
    std::memset(small, 'x', sizeof small);
    size_t len = 12345;
    EXPECT_EQ(surgeon_mixed_stats_json(&good, small, sizeof small, &len), SURGEON_ERR_BUFFER_TOO_SMALL);
    EXPECT_GT(len, sizeof small);
    for (char c : small) EXPECT_EQ(c, 'x');
    // A struct of another version is refused.
    good.version = SURGEON_MIXED_STATS_VERSION + 1;
    len = 12345;
    EXPECT_EQ(surgeon_mixed_stats_json(&good, nullptr, 0, &len), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(len, 12345u);
    copy = good;
    EXPECT_EQ(surgeon_mixed_stats_compute(rb.data(), kRows, kCols, 0, 16, -1, imp, &good), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(std::memcmp(&good, &copy, sizeof good), 0);
    EXPECT_EQ(surgeon_importance_signal_values(imp, static_cast<surgeon_importance_signal>(5), nullptr, nullptr),
              SURGEON_ERR_INVALID_ARGUMENT);
    surgeon_importance_free(imp);
    surgeon_importance_free(nullptr);
}

}  // namespace

// One budget over two "layers" of different widths and option sets: the result stays
// within the budget, leaves no affordable step, equals the brute-force optimum on a
// small case, and a failing call leaves bits_out untouched.
TEST(CapiMixed, GroupedBudgetOverLayers) {
    // Group 0: 3 rows × 4 columns, options {2, 4}; group 1: 2 rows × 8 columns, {3, 1, 5}.
    const int64_t rows[] = {3, 2}, weights[] = {4, 8};
    const int32_t options[] = {2, 4, 3, 1, 5}, n_options[] = {2, 3};
    const double costs[] = {1.0, 0.2,  5.0, 0.5,  0.3, 0.25,     // group 0: rows × {2, 4}
                            2.0, 9.0, 0.1,  1.0, 1.5, 0.9};     // group 1: rows × {3, 1, 5}
    const int64_t budget = 3 * 4 * 2 + 2 * 8 * 3 + 8;            // 72 + 8 spare bits
    int32_t bits[5] = {0};
    ASSERT_EQ(surgeon_allocate_error_groups(costs, rows, weights, options, n_options, 2, budget, bits),
              SURGEON_OK) << surgeon_last_error();
    // Brute force over all 2³·3² choices.
    double best = 1e300;
    for (int c = 0; c < 8 * 9; ++c) {
        int64_t used = 0;
        double cost = 0.0;
        int code = c;
        for (int r = 0; r < 3; ++r, code /= 2) {
            used += options[code % 2] * 4;
            cost += costs[r * 2 + code % 2];
        }
        for (int r = 0; r < 2; ++r, code /= 3) {
            used += options[2 + code % 3] * 8;
            cost += costs[6 + r * 3 + code % 3];
        }
        if (used <= budget) best = std::min(best, cost);
    }
    int64_t used = 0;
    double cost = 0.0;
    for (int r = 0; r < 3; ++r) {
        used += bits[r] * 4;
        cost += costs[r * 2 + (bits[r] == 4 ? 1 : 0)];
    }
    for (int r = 0; r < 2; ++r) {
        used += bits[3 + r] * 8;
        const int m = bits[3 + r] == 3 ? 0 : bits[3 + r] == 1 ? 1 : 2;
        cost += costs[6 + r * 3 + m];
    }
    EXPECT_LE(used, budget);
    EXPECT_DOUBLE_EQ(cost, best);

    int32_t untouched[5] = {7, 7, 7, 7, 7};
    EXPECT_EQ(surgeon_allocate_error_groups(costs, rows, weights, options, n_options, 2, 3 * 4 * 2 + 2 * 8 - 1,
                                            untouched),
              SURGEON_ERR_INVALID_ARGUMENT);  // below the smallest options
    const int32_t bad_options[] = {2, 2, 3, 1, 5};
    EXPECT_EQ(surgeon_allocate_error_groups(costs, rows, weights, bad_options, n_options, 2, budget, untouched),
              SURGEON_ERR_INVALID_ARGUMENT);  // an option listed twice
    EXPECT_EQ(surgeon_allocate_error_groups(costs, rows, weights, options, n_options, 0, budget, untouched),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_allocate_error_groups(nullptr, rows, weights, options, n_options, 2, budget, untouched),
              SURGEON_ERR_INVALID_ARGUMENT);
    double nan_costs[12];
    std::copy(std::begin(costs), std::end(costs), nan_costs);
    nan_costs[7] = std::nan("");
    EXPECT_EQ(surgeon_allocate_error_groups(nan_costs, rows, weights, options, n_options, 2, budget, untouched),
              SURGEON_ERR_NUMERIC);
    for (int32_t v : untouched) EXPECT_EQ(v, 7);
}
