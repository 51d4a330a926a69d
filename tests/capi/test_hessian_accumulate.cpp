// The accumulator against a naive double-precision reference, under every way of feeding
// it: one call, batches, strided rows, four threads at once, and merges.
#include <cstring>
#include <limits>
#include <thread>

#include "hessian_helpers.hpp"

namespace hessian_test {
namespace {

constexpr int64_t kRows = 1000, kCols = 96;

TEST(HessianAccumulate, MatchesNaiveDoubleReference) {
    const auto x = random_activations(kRows, kCols, 1);
    auto h = new_hessian(kCols);
    ASSERT_EQ(surgeon_hessian_add_f32(h.get(), x.data(), kRows, kCols, 0), SURGEON_OK);
    EXPECT_EQ(samples_of(h.get()), kRows);
    const auto got = copy_h(h.get());
    expect_hessian_near(got, naive_hessian(x, kRows, kCols), kCols, 2e-6);
    // copy() returns the full symmetric matrix, not just a triangle.
    for (int64_t i = 0; i < kCols; ++i)
        for (int64_t j = 0; j < i; ++j) ASSERT_EQ(got[i * kCols + j], got[j * kCols + i]);
}

TEST(HessianAccumulate, ColumnStatsMatchNaive) {
    const auto x = random_activations(kRows, kCols, 2);
    auto h = new_hessian(kCols);
    ASSERT_EQ(surgeon_hessian_add_f32(h.get(), x.data(), 600, kCols, 0), SURGEON_OK);
    ASSERT_EQ(surgeon_hessian_add_f32(h.get(), x.data() + 600 * kCols, kRows - 600, kCols, 0),
              SURGEON_OK);
    const Stats s = stats_of(h.get(), kCols);
    for (int64_t c = 0; c < kCols; ++c) {
        double sum_abs = 0, sum = 0, sum_sq = 0;
        for (int64_t r = 0; r < kRows; ++r) {
            const double v = x[r * kCols + c];
            sum_abs += std::fabs(v);
            sum += v;
            sum_sq += v * v;
        }
        const double abs_mean = sum_abs / kRows;
        // Results are float32 of double sums: within one float rounding of the truth
        // (the mean is compared on the scale of mean |x|, it may cancel to ~0).
        EXPECT_NEAR(s.abs_mean[c], abs_mean, 1e-7 * abs_mean) << "column " << c;
        EXPECT_NEAR(s.mean[c], sum / kRows, 1e-7 * abs_mean) << "column " << c;
        EXPECT_NEAR(s.sq_mean[c], sum_sq / kRows, 1e-7 * sum_sq / kRows) << "column " << c;
    }
    // Every pointer may be NULL on its own.
    std::vector<float> only_mean(kCols, -7.0f);
    ASSERT_EQ(surgeon_hessian_stats(h.get(), nullptr, only_mean.data(), nullptr), SURGEON_OK);
    EXPECT_EQ(only_mean, s.mean);
    ASSERT_EQ(surgeon_hessian_stats(h.get(), nullptr, nullptr, nullptr), SURGEON_OK);
}

TEST(HessianAccumulate, EmptyAccumulatorIsZero) {
    auto h = new_hessian(5);
    // rows = 0 is a no-op, even with a NULL buffer.
    ASSERT_EQ(surgeon_hessian_add_f32(h.get(), nullptr, 0, 5, 0), SURGEON_OK);
    EXPECT_EQ(samples_of(h.get()), 0);
    for (float v : copy_h(h.get())) EXPECT_EQ(v, 0.0f);
    const Stats s = stats_of(h.get(), 5);
    for (int64_t c = 0; c < 5; ++c) {
        EXPECT_EQ(s.abs_mean[c], 0.0f);
        EXPECT_EQ(s.mean[c], 0.0f);
        EXPECT_EQ(s.sq_mean[c], 0.0f);
    }
}

TEST(HessianAccumulate, BatchesEqualOneCall) {
    const auto x = random_activations(kRows, kCols, 3);
    auto whole = new_hessian(kCols);
    ASSERT_EQ(surgeon_hessian_add_f32(whole.get(), x.data(), kRows, kCols, 0), SURGEON_OK);
    const auto expected = copy_h(whole.get());
    const Stats expected_stats = stats_of(whole.get(), kCols);
    for (int64_t batch : {1, 7, 64, 128, 333, 512}) {
        auto h = new_hessian(kCols);
        for (int64_t r0 = 0; r0 < kRows; r0 += batch)
            ASSERT_EQ(surgeon_hessian_add_f32(h.get(), x.data() + r0 * kCols,
                                              std::min(batch, kRows - r0), kCols, kCols),
                      SURGEON_OK);
        EXPECT_EQ(samples_of(h.get()), kRows) << "batch " << batch;
        expect_hessian_near(copy_h(h.get()), expected, kCols, 2e-6);
        const Stats s = stats_of(h.get(), kCols);
        for (int64_t c = 0; c < kCols; ++c)
            EXPECT_NEAR(s.sq_mean[c], expected_stats.sq_mean[c], 1e-6 * expected_stats.sq_mean[c]);
    }
}

// Rows read through a leading dimension: the padding (here NaN) is never looked at.
TEST(HessianAccumulate, LeadingDimensionSkipsPadding) {
    const int64_t rows = 200, cols = 40, ld = 53;
    const auto x = random_activations(rows, cols, 4);
    std::vector<float> strided(static_cast<size_t>(rows * ld),
                               std::numeric_limits<float>::quiet_NaN());
    for (int64_t r = 0; r < rows; ++r)
        std::memcpy(&strided[r * ld], &x[r * cols], sizeof(float) * cols);
    auto packed = new_hessian(cols), padded = new_hessian(cols);
    ASSERT_EQ(surgeon_hessian_add_f32(packed.get(), x.data(), rows, cols, 0), SURGEON_OK);
    ASSERT_EQ(surgeon_hessian_add_f32(padded.get(), strided.data(), rows, cols, ld), SURGEON_OK)
        << surgeon_last_error();
    expect_hessian_near(copy_h(padded.get()), copy_h(packed.get()), cols, 1e-6);
    // ld < cols is a shape error.
    EXPECT_EQ(surgeon_hessian_add_f32(padded.get(), x.data(), rows, cols, cols - 1),
              SURGEON_ERR_SHAPE);
    EXPECT_EQ(samples_of(padded.get()), rows);
}

TEST(HessianAccumulate, ConcurrentAddsEqualSerial) {
    constexpr int kThreads = 4, kBatches = 20;
    constexpr int64_t kBatchRows = 40;
    const int64_t rows = kThreads * kBatches * kBatchRows;
    const auto x = random_activations(rows, kCols, 5);
    auto serial = new_hessian(kCols), shared = new_hessian(kCols);
    ASSERT_EQ(surgeon_hessian_add_f32(serial.get(), x.data(), rows, kCols, 0), SURGEON_OK);

    std::vector<std::thread> threads;
    std::vector<int> failures(kThreads, 0);
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            // Interleave the threads' rows so every thread's calls overlap the others'.
            for (int b = 0; b < kBatches; ++b) {
                const int64_t r0 = (static_cast<int64_t>(b) * kThreads + t) * kBatchRows;
                if (surgeon_hessian_add_f32(shared.get(), x.data() + r0 * kCols, kBatchRows,
                                            kCols, 0) != SURGEON_OK)
                    ++failures[t];
            }
        });
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
    EXPECT_EQ(samples_of(shared.get()), rows);
    expect_hessian_near(copy_h(shared.get()), copy_h(serial.get()), kCols, 2e-6);
    expect_stats_near(stats_of(shared.get(), kCols), stats_of(serial.get(), kCols));
}

TEST(HessianAccumulate, MergeEqualsOneAccumulatorFedEverything) {
    const auto x = random_activations(kRows, kCols, 6);
    const int64_t split = 380;
    auto dst = new_hessian(kCols), src = new_hessian(kCols), all = new_hessian(kCols);
    ASSERT_EQ(surgeon_hessian_add_f32(dst.get(), x.data(), split, kCols, 0), SURGEON_OK);
    ASSERT_EQ(surgeon_hessian_add_f32(src.get(), x.data() + split * kCols, kRows - split, kCols, 0),
              SURGEON_OK);
    ASSERT_EQ(surgeon_hessian_add_f32(all.get(), x.data(), kRows, kCols, 0), SURGEON_OK);
    const auto src_h = copy_h(src.get());
    const Stats src_stats = stats_of(src.get(), kCols);

    ASSERT_EQ(surgeon_hessian_merge(dst.get(), src.get()), SURGEON_OK) << surgeon_last_error();
    EXPECT_EQ(samples_of(dst.get()), kRows);
    expect_hessian_near(copy_h(dst.get()), copy_h(all.get()), kCols, 2e-6);
    expect_stats_near(stats_of(dst.get(), kCols), stats_of(all.get(), kCols));
    // The source is unchanged, bit for bit.
    EXPECT_EQ(samples_of(src.get()), kRows - split);
    EXPECT_EQ(copy_h(src.get()), src_h);
    EXPECT_EQ(stats_of(src.get(), kCols).sq_mean, src_stats.sq_mean);

    // Merging into an empty accumulator copies the source.
    auto empty = new_hessian(kCols);
    ASSERT_EQ(surgeon_hessian_merge(empty.get(), src.get()), SURGEON_OK);
    EXPECT_EQ(samples_of(empty.get()), kRows - split);
    expect_hessian_near(copy_h(empty.get()), src_h, kCols, 1e-7);
}

TEST(HessianAccumulate, MergeErrorsLeaveDestinationUnchanged) {
    const auto x = random_activations(50, kCols, 7);
    auto dst = new_hessian(kCols), other = new_hessian(kCols + 1);
    ASSERT_EQ(surgeon_hessian_add_f32(dst.get(), x.data(), 50, kCols, 0), SURGEON_OK);
    const auto before = copy_h(dst.get());

    EXPECT_EQ(surgeon_hessian_merge(dst.get(), dst.get()), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(std::string(surgeon_last_error()).rfind("surgeon_hessian_merge:", 0), 0u)
        << surgeon_last_error();
    EXPECT_EQ(surgeon_hessian_merge(dst.get(), other.get()), SURGEON_ERR_SHAPE);
    EXPECT_EQ(surgeon_hessian_merge(dst.get(), nullptr), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(surgeon_hessian_merge(nullptr, dst.get()), SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(samples_of(dst.get()), 50);
    EXPECT_EQ(copy_h(dst.get()), before);
}

TEST(HessianAccumulate, NonFiniteRowsLeaveAccumulatorUnchanged) {
    const int64_t cols = 8;
    auto x = random_activations(30, cols, 8);
    auto h = new_hessian(cols);
    ASSERT_EQ(surgeon_hessian_add_f32(h.get(), x.data(), 10, cols, 0), SURGEON_OK);
    const auto before = copy_h(h.get());
    const Stats stats_before = stats_of(h.get(), cols);
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
        auto poisoned = x;
        poisoned[29 * cols + 5] = bad;  // the very last row: everything before it is valid
        EXPECT_EQ(surgeon_hessian_add_f32(h.get(), poisoned.data(), 30, cols, 0),
                  SURGEON_ERR_NUMERIC);
        EXPECT_NE(std::string(surgeon_last_error()).find("row 29, column 5"), std::string::npos)
            << surgeon_last_error();
    }
    EXPECT_EQ(samples_of(h.get()), 10);
    EXPECT_EQ(copy_h(h.get()), before);
    EXPECT_EQ(stats_of(h.get(), cols).abs_mean, stats_before.abs_mean);
}

TEST(HessianAccumulate, FromMatrixKeepsTheMatrix) {
    const int64_t cols = 24;
    const auto x = random_activations(100, cols, 9);
    const auto ref = naive_hessian(x, 100, cols);
    std::vector<float> m(ref.begin(), ref.end());
    surgeon_hessian* raw = nullptr;
    ASSERT_EQ(surgeon_hessian_from_matrix(&raw, nullptr, m.data(), cols, 0, 100), SURGEON_OK);
    HessianPtr h(raw);
    EXPECT_EQ(samples_of(h.get()), 100);
    expect_hessian_near(copy_h(h.get()), m, cols, 1e-7);
    // Only mean x² is known (H_jj / 2); the others are 0.
    const Stats s = stats_of(h.get(), cols);
    for (int64_t c = 0; c < cols; ++c) {
        EXPECT_NEAR(s.sq_mean[c], m[c * cols + c] / 2, 1e-6 * m[c * cols + c]);
        EXPECT_EQ(s.abs_mean[c], 0.0f);
        EXPECT_EQ(s.mean[c], 0.0f);
    }
    // Continuing to accumulate on top weights the matrix by its sample count.
    ASSERT_EQ(surgeon_hessian_add_f32(h.get(), x.data(), 100, cols, 0), SURGEON_OK);
    expect_hessian_near(copy_h(h.get()), m, cols, 2e-6);
    // samples must be >= 1; NaN is a numeric error.
    surgeon_hessian* untouched = reinterpret_cast<surgeon_hessian*>(&m);
    EXPECT_EQ(surgeon_hessian_from_matrix(&untouched, nullptr, m.data(), cols, 0, 0),
              SURGEON_ERR_INVALID_ARGUMENT);
    m[3] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_EQ(surgeon_hessian_from_matrix(&untouched, nullptr, m.data(), cols, 0, 5),
              SURGEON_ERR_NUMERIC);
    EXPECT_EQ(untouched, reinterpret_cast<surgeon_hessian*>(&m));
}

// A matrix that cannot be an xᵀx is a numeric error, the output left unset: a negative (or
// non-finite) diagonal entry, or entries that overflow a float once scaled by samples / 2.
TEST(HessianAccumulate, FromMatrixRejectsWhatNoInputsGive) {
    const int64_t cols = 3;
    const std::vector<float> good = {2, 1, 0, 1, 3, 1, 0, 1, 4};
    surgeon_hessian* raw = nullptr;
    ASSERT_EQ(surgeon_hessian_from_matrix(&raw, nullptr, good.data(), cols, 0, 7), SURGEON_OK);
    HessianPtr ok(raw);
    const float inf = std::numeric_limits<float>::infinity();
    for (const auto& [index, value] : std::vector<std::pair<int, float>>{
             {0, -1.0f}, {4, -1e-30f}, {8, -inf}, {8, inf}, {4, std::numeric_limits<float>::quiet_NaN()}}) {
        std::vector<float> m = good;
        m[static_cast<size_t>(index)] = value;
        surgeon_hessian* untouched = reinterpret_cast<surgeon_hessian*>(&m);
        EXPECT_EQ(surgeon_hessian_from_matrix(&untouched, nullptr, m.data(), cols, 0, 7), SURGEON_ERR_NUMERIC)
            << "H[" << index << "] = " << value;
        EXPECT_EQ(untouched, reinterpret_cast<surgeon_hessian*>(&m));
        EXPECT_NE(std::string(surgeon_last_error()).find("surgeon_hessian_from_matrix"), std::string::npos);
    }
    // 3e38 · 7 / 2 is past the largest float; 3e38 · 1 / 2 is not.
    std::vector<float> big = good;
    big[0] = 3e38f;
    surgeon_hessian* untouched = nullptr;
    EXPECT_EQ(surgeon_hessian_from_matrix(&untouched, nullptr, big.data(), cols, 0, 7), SURGEON_ERR_NUMERIC);
    EXPECT_EQ(untouched, nullptr);
    ASSERT_EQ(surgeon_hessian_from_matrix(&raw, nullptr, big.data(), cols, 0, 1), SURGEON_OK);
    HessianPtr one(raw);
}

}  // namespace
}  // namespace hessian_test
