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
        EXPECT_EQ(surgeon_solver_new(&s, nullptr, h, 0.01, 128), SURGEON_OK);
        EXPECT_EQ(surgeon_quantizer_new(&q, 4), SURGEON_OK);
    }
    ~Layer() {
        surgeon_quantizer_free(q);
        surgeon_solver_free(s);
        surgeon_hessian_free(h);
    }
};

const int32_t kOptions[] = {2, 3, 4, 6, 8};

TEST(CapiMixed, EndToEnd) {
    Layer st;
    double wts[SURGEON_SIGNAL_COUNT];
    ASSERT_EQ(surgeon_importance_default_weights(wts), SURGEON_OK);
    EXPECT_DOUBLE_EQ(wts[SURGEON_SIGNAL_WEIGHT], 0.15);
    surgeon_importance* imp = nullptr;
    ASSERT_EQ(surgeon_importance_compute(&imp, nullptr, st.h, st.s, st.w.data(), kRows, kCols, 0, nullptr),
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
    ASSERT_EQ(surgeon_importance_compute(&imp2, nullptr, st.h, nullptr, st.w.data(), kRows, kCols, 0, wts), SURGEON_OK);
    std::vector<float> score2(kRows);
    ASSERT_EQ(surgeon_importance_scores(imp2, score2.data()), SURGEON_OK);
    for (int64_t i = 0; i < kRows; ++i) EXPECT_NEAR(score[i], score2[i], 1e-5);
    surgeon_importance_free(imp2);

    std::vector<int32_t> bits(kRows);
    ASSERT_EQ(surgeon_allocate_budget(imp, kOptions, 5, 3.5, bits.data()), SURGEON_OK);
    int64_t sum = 0;
    for (int32_t b : bits) sum += b;
    EXPECT_EQ(sum, 168);  // 3.5 · 48
    ASSERT_EQ(surgeon_allocate_quantile(imp, kOptions, 5, nullptr, 4.0, bits.data()), SURGEON_OK);
    const double cuts[] = {0.2, 0.4, 0.6, 0.8};
    ASSERT_EQ(surgeon_allocate_quantile(imp, kOptions, 5, cuts, 0.0, bits.data()), SURGEON_OK);

    std::vector<double> errors(kRows * 5);
    ASSERT_EQ(surgeon_mixed_row_errors(nullptr, st.s, st.w.data(), kRows, kCols, 0, st.q, kOptions, 5, errors.data()),
              SURGEON_OK);
    ASSERT_EQ(surgeon_allocate_error(errors.data(), kRows, kOptions, 5, 3.0, bits.data()), SURGEON_OK);
    sum = 0;
    for (int32_t b : bits) sum += b;
    EXPECT_EQ(sum, 3 * kRows);

    surgeon_qresult* res = nullptr;
    ASSERT_EQ(surgeon_qresult_new(&res), SURGEON_OK);
    std::vector<float> w = st.w;
    ASSERT_EQ(surgeon_solver_quantize_mixed(st.s, w.data(), kRows, kCols, 0, st.q, bits.data(), res, nullptr),
              SURGEON_OK);
    std::vector<int32_t> back(kRows);
    ASSERT_EQ(surgeon_qresult_row_bits(res, back.data()), SURGEON_OK);
    EXPECT_EQ(back, bits);
    std::vector<uint8_t> codes(kRows * kCols);
    ASSERT_EQ(surgeon_qresult_codes(res, codes.data()), SURGEON_OK);
    for (int64_t r = 0; r < kRows; ++r)
        for (int64_t c = 0; c < kCols; ++c) ASSERT_LT(codes[r * kCols + c], 1 << bits[r]);

    std::vector<float> wp = st.w;
    surgeon_mask* mask = nullptr;
    ASSERT_EQ(surgeon_mask_new(&mask, 1, 1), SURGEON_OK);
    ASSERT_EQ(surgeon_solver_prune_mixed(st.s, wp.data(), kRows, kCols, 0, 0.5, 0, 0, SURGEON_MASK_SCOPE_BLOCK, st.q,
                                         bits.data(), mask, res, nullptr),
              SURGEON_OK);
    double sparsity = 0;
    ASSERT_EQ(surgeon_mask_sparsity(mask, &sparsity), SURGEON_OK);
    EXPECT_NEAR(sparsity, 0.5, 1e-9);
    surgeon_mask_free(mask);

    surgeon_mixed_stats stats;
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
    ASSERT_EQ(surgeon_mixed_stats_json(bits.data(), kRows, kCols, 32, 16, -1, imp, nullptr, 0, &len), SURGEON_OK);
    std::string text(len + 1, '\0');
    ASSERT_EQ(surgeon_mixed_stats_json(bits.data(), kRows, kCols, 32, 16, -1, imp, text.data(), text.size(), &len),
              SURGEON_OK);
    const auto j = nlohmann::json::parse(text.c_str());
    EXPECT_DOUBLE_EQ(j["avg_bits"].get<double>(), 3.0);
    EXPECT_EQ(j["channels"], kRows);

    double avg = 0;
    const int32_t even[] = {2, 4, 8};
    ASSERT_EQ(surgeon_attainable_average(5, even, 3, 3.0, &avg), SURGEON_OK);
    EXPECT_DOUBLE_EQ(avg, 14.0 / 5.0);

    surgeon_qresult_free(res);
    surgeon_importance_free(imp);
}

TEST(CapiMixed, ErrorsLeaveBuffersUntouched) {
    Layer st;
    surgeon_importance* imp = reinterpret_cast<surgeon_importance*>(0x1);
    EXPECT_EQ(surgeon_importance_compute(&imp, nullptr, nullptr, nullptr, st.w.data(), kRows, kCols, 0, nullptr),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(imp, reinterpret_cast<surgeon_importance*>(0x1));
    EXPECT_NE(std::string(surgeon_last_error()).find("surgeon_importance_compute"), std::string::npos);
    EXPECT_EQ(surgeon_importance_compute(&imp, nullptr, st.h, nullptr, st.w.data(), kRows, kCols - 1, 0, nullptr),
              SURGEON_ERR_SHAPE);
    const double negative[] = {0.25, -1, 0, 0, 0};
    EXPECT_EQ(surgeon_importance_compute(&imp, nullptr, st.h, nullptr, st.w.data(), kRows, kCols, 0, negative),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(imp, reinterpret_cast<surgeon_importance*>(0x1));

    imp = nullptr;
    ASSERT_EQ(surgeon_importance_compute(&imp, nullptr, st.h, st.s, st.w.data(), kRows, kCols, 0, nullptr), SURGEON_OK);
    std::vector<int32_t> bits(kRows, 77);
    const int32_t bad_range[] = {0, 4};
    const int32_t dup[] = {4, 4};
    EXPECT_EQ(surgeon_allocate_budget(imp, bad_range, 2, 3.0, bits.data()), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_allocate_budget(imp, dup, 2, 4.0, bits.data()), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_allocate_budget(imp, kOptions, 5, 9.0, bits.data()), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_allocate_budget(imp, kOptions, 0, 3.0, bits.data()), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_allocate_budget(imp, nullptr, 5, 3.0, bits.data()), SURGEON_ERR_INVALID_ARGUMENT);
    const double bad_cuts[] = {0.5, 0.2, 0.6, 0.8};
    EXPECT_EQ(surgeon_allocate_quantile(imp, kOptions, 5, bad_cuts, 0.0, bits.data()), SURGEON_ERR_INVALID_ARGUMENT);
    std::vector<double> errors(kRows * 5, 1.0);
    errors[7] = std::nan("");
    EXPECT_EQ(surgeon_allocate_error(errors.data(), kRows, kOptions, 5, 3.0, bits.data()), SURGEON_ERR_NUMERIC);
    for (int32_t b : bits) EXPECT_EQ(b, 77);

    std::vector<double> e(kRows * 5, -5.0);
    EXPECT_EQ(surgeon_mixed_row_errors(nullptr, st.s, st.w.data(), kRows, kCols + 1, 0, st.q, kOptions, 5, e.data()),
              SURGEON_ERR_SHAPE);
    EXPECT_EQ(surgeon_mixed_row_errors(nullptr, st.s, st.w.data(), kRows, kCols, 0, nullptr, kOptions, 5, e.data()),
              SURGEON_ERR_INVALID_ARGUMENT);
    for (double v : e) EXPECT_EQ(v, -5.0);

    // A bad width in row_bits: the weights keep their values.
    std::vector<int32_t> rb(kRows, 3);
    rb[5] = 9;
    std::vector<float> w = st.w;
    EXPECT_EQ(surgeon_solver_quantize_mixed(st.s, w.data(), kRows, kCols, 0, st.q, rb.data(), nullptr, nullptr),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_solver_quantize_mixed(st.s, w.data(), kRows, kCols, 0, st.q, nullptr, nullptr, nullptr),
              SURGEON_ERR_INVALID_ARGUMENT);
    rb[5] = 0;
    EXPECT_EQ(surgeon_solver_prune_mixed(st.s, w.data(), kRows, kCols, 0, 0.5, 0, 0, SURGEON_MASK_SCOPE_BLOCK, st.q,
                                         rb.data(), nullptr, nullptr, nullptr),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_solver_prune_mixed(st.s, w.data(), kRows, kCols, 0, 0.5, 0, 0, SURGEON_MASK_SCOPE_BLOCK, nullptr,
                                         rb.data(), nullptr, nullptr, nullptr),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(std::memcmp(w.data(), st.w.data(), w.size() * sizeof(float)), 0);

    surgeon_mixed_stats stats;
    std::memset(&stats, 0xAB, sizeof stats);
    surgeon_mixed_stats copy = stats;
    EXPECT_EQ(surgeon_mixed_stats_compute(rb.data(), kRows, kCols, 0, 16, -1, nullptr, &stats),
              SURGEON_ERR_INVALID_ARGUMENT);  // row 5 has 0 bits
    rb[5] = 3;
    EXPECT_EQ(surgeon_mixed_stats_compute(rb.data(), kRows, kCols, 0, 16, -1, imp, nullptr), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_mixed_stats_compute(rb.data(), kRows - 1, kCols, 0, 16, -1, imp, &stats), SURGEON_ERR_SHAPE);
    EXPECT_EQ(std::memcmp(&stats, &copy, sizeof stats), 0);
    char small[8];
    std::memset(small, 'x', sizeof small);
    size_t len = 12345;
    EXPECT_EQ(surgeon_mixed_stats_json(rb.data(), kRows, kCols, 0, 16, -1, imp, small, sizeof small, &len),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(len, 12345u);
    for (char c : small) EXPECT_EQ(c, 'x');
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
