// The raw state of an accumulator (surgeon_hessian_export_raw / _import_raw): the layout
// the header documents, checked against a naive reference; export → elementwise sum →
// import equals merge bit for bit; bad states are refused with the output untouched.
#include <cstring>
#include <limits>

#include "hessian_helpers.hpp"

namespace hessian_test {
namespace {

constexpr int64_t kCols = 37;

struct Raw {
    std::vector<float> sum_xx;
    std::vector<double> column_sums;
    int64_t samples = -1;
};

Raw export_raw(const surgeon_hessian* h, int64_t cols) {
    Raw r;
    r.sum_xx.assign(static_cast<size_t>(cols * (cols + 1) / 2), -1.0f);
    r.column_sums.assign(static_cast<size_t>(3 * cols), -1.0);
    EXPECT_EQ(surgeon_hessian_export_raw(h, r.sum_xx.data(), r.column_sums.data(), &r.samples), SURGEON_OK)
        << surgeon_last_error();
    return r;
}

HessianPtr import_raw(const Raw& r, int64_t cols) {
    surgeon_hessian* h = nullptr;
    EXPECT_EQ(surgeon_hessian_import_raw(&h, nullptr, cols, r.sum_xx.data(), r.column_sums.data(), r.samples),
              SURGEON_OK)
        << surgeon_last_error();
    return HessianPtr(h);
}

HessianPtr fed(const std::vector<float>& x, int64_t rows) {
    auto h = new_hessian(kCols);
    EXPECT_EQ(surgeon_hessian_add_f32(h.get(), x.data(), rows, kCols, 0), SURGEON_OK);
    return h;
}

bool same_bits(const Raw& a, const Raw& b) {
    return a.samples == b.samples && a.sum_xx.size() == b.sum_xx.size() &&
           std::memcmp(a.sum_xx.data(), b.sum_xx.data(), a.sum_xx.size() * sizeof(float)) == 0 &&
           a.column_sums.size() == b.column_sums.size() &&
           std::memcmp(a.column_sums.data(), b.column_sums.data(), a.column_sums.size() * sizeof(double)) == 0;
}

TEST(HessianRaw, LayoutIsTheDocumentedOne) {
    const int64_t rows = 50;
    const auto x = random_activations(rows, kCols, 11);
    auto h = fed(x, rows);
    const Raw r = export_raw(h.get(), kCols);
    EXPECT_EQ(r.samples, rows);
    for (int64_t i = 0; i < kCols; ++i)
        for (int64_t j = i; j < kCols; ++j) {
            double s = 0.0;
            for (int64_t k = 0; k < rows; ++k) s += static_cast<double>(x[k * kCols + i]) * x[k * kCols + j];
            const float got = r.sum_xx[static_cast<size_t>(i * kCols - i * (i - 1) / 2 + (j - i))];
            ASSERT_NEAR(got, s, 1e-5 * std::fabs(s) + 1e-4) << i << "," << j;
        }
    for (int64_t c = 0; c < kCols; ++c) {
        double sum_abs = 0.0, sum = 0.0, sum_sq = 0.0;
        for (int64_t k = 0; k < rows; ++k) {
            const double v = x[k * kCols + c];
            sum_abs += std::fabs(v);
            sum += v;
            sum_sq += v * v;
        }
        EXPECT_NEAR(r.column_sums[c], sum_abs, 1e-12 * sum_abs);
        EXPECT_NEAR(r.column_sums[kCols + c], sum, 1e-12 * sum_abs);
        EXPECT_NEAR(r.column_sums[2 * kCols + c], sum_sq, 1e-12 * sum_sq);
    }
    // H = 2/n · S from the raw sum, as surgeon_hessian_copy gives it.
    const auto hm = copy_h(h.get());
    for (int64_t i = 0; i < kCols; ++i)
        for (int64_t j = i; j < kCols; ++j)
            ASSERT_EQ(hm[i * kCols + j], r.sum_xx[static_cast<size_t>(i * kCols - i * (i - 1) / 2 + (j - i))] *
                                             static_cast<float>(2.0 / rows));
}

TEST(HessianRaw, SumOfExportsImportedEqualsMerge) {
    const auto x = random_activations(300, kCols, 12);
    const int64_t split[] = {0, 70, 190, 300};  // three accumulators of different sizes
    std::vector<HessianPtr> parts;
    for (int p = 0; p < 3; ++p) parts.push_back(fed(std::vector<float>(x.begin() + split[p] * kCols,
                                                                       x.begin() + split[p + 1] * kCols),
                                                    split[p + 1] - split[p]));
    // merge: ((a + b) + c) into a fresh copy of a.
    auto merged = import_raw(export_raw(parts[0].get(), kCols), kCols);
    ASSERT_EQ(surgeon_hessian_merge(merged.get(), parts[1].get()), SURGEON_OK);
    ASSERT_EQ(surgeon_hessian_merge(merged.get(), parts[2].get()), SURGEON_OK);
    // The host's reduction: elementwise sums of the exports, in the same order.
    Raw sum = export_raw(parts[0].get(), kCols);
    for (int p = 1; p < 3; ++p) {
        const Raw r = export_raw(parts[p].get(), kCols);
        for (size_t i = 0; i < sum.sum_xx.size(); ++i) sum.sum_xx[i] += r.sum_xx[i];
        for (size_t i = 0; i < sum.column_sums.size(); ++i) sum.column_sums[i] += r.column_sums[i];
        sum.samples += r.samples;
    }
    auto rebuilt = import_raw(sum, kCols);
    EXPECT_TRUE(same_bits(export_raw(rebuilt.get(), kCols), export_raw(merged.get(), kCols)));
    EXPECT_EQ(copy_h(rebuilt.get()), copy_h(merged.get()));
    const Stats a = stats_of(rebuilt.get(), kCols), b = stats_of(merged.get(), kCols);
    EXPECT_EQ(a.abs_mean, b.abs_mean);
    EXPECT_EQ(a.mean, b.mean);
    EXPECT_EQ(a.sq_mean, b.sq_mean);
    EXPECT_EQ(samples_of(rebuilt.get()), 300);
    // And the whole against one accumulator fed all rows: the same H up to float rounding.
    expect_hessian_near(copy_h(rebuilt.get()), naive_hessian(x, 300, kCols), kCols, 2e-6);
}

TEST(HessianRaw, EmptyRoundTrips) {
    auto h = new_hessian(4);
    const Raw r = export_raw(h.get(), 4);
    EXPECT_EQ(r.samples, 0);
    for (float v : r.sum_xx) EXPECT_EQ(v, 0.0f);
    for (double v : r.column_sums) EXPECT_EQ(v, 0.0);
    auto back = import_raw(r, 4);
    EXPECT_EQ(samples_of(back.get()), 0);
}

TEST(HessianRaw, BadStatesAreRefusedAndTheOutputUntouched) {
    const auto x = random_activations(20, kCols, 13);
    auto h = fed(x, 20);
    const Raw good = export_raw(h.get(), kCols);
    surgeon_hessian* const sentinel = reinterpret_cast<surgeon_hessian*>(0x1);
    auto refused = [&](const Raw& r, int64_t cols, surgeon_status want) {
        surgeon_hessian* out = sentinel;
        EXPECT_EQ(surgeon_hessian_import_raw(&out, nullptr, cols, r.sum_xx.data(), r.column_sums.data(), r.samples),
                  want);
        EXPECT_EQ(out, sentinel);
        EXPECT_NE(std::string(surgeon_last_error()), "");
    };
    Raw r = good;
    r.samples = -1;
    refused(r, kCols, SURGEON_ERR_INVALID_ARGUMENT);
    refused(good, 0, SURGEON_ERR_INVALID_ARGUMENT);
    r = good;
    r.sum_xx[5] = std::numeric_limits<float>::quiet_NaN();
    refused(r, kCols, SURGEON_ERR_NUMERIC);
    r = good;
    r.sum_xx[static_cast<size_t>(kCols)] = -1.0f;  // S_11, a diagonal entry
    refused(r, kCols, SURGEON_ERR_NUMERIC);
    r = good;
    r.column_sums[2 * kCols + 3] = -2.0;  // Σx² of column 3
    refused(r, kCols, SURGEON_ERR_NUMERIC);
    surgeon_hessian* out = sentinel;
    EXPECT_EQ(surgeon_hessian_import_raw(&out, nullptr, kCols, nullptr, good.column_sums.data(), 20),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(out, sentinel);
    EXPECT_EQ(surgeon_hessian_import_raw(nullptr, nullptr, kCols, good.sum_xx.data(), good.column_sums.data(), 20),
              SURGEON_ERR_INVALID_ARGUMENT);
    // Export with a NULL buffer: the other buffers are not written.
    Raw untouched;
    untouched.sum_xx.assign(good.sum_xx.size(), -3.0f);
    untouched.column_sums.assign(good.column_sums.size(), -3.0);
    EXPECT_EQ(surgeon_hessian_export_raw(h.get(), untouched.sum_xx.data(), nullptr, &untouched.samples),
              SURGEON_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(untouched.samples, -1);
    for (float v : untouched.sum_xx) EXPECT_EQ(v, -3.0f);
    EXPECT_EQ(surgeon_hessian_export_raw(nullptr, untouched.sum_xx.data(), untouched.column_sums.data(),
                                         &untouched.samples),
              SURGEON_ERR_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace hessian_test
