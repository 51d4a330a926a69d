// The accumulator itself (surgeon::Hessian) on the real layer fixture; the C API's view of
// it is tested in tests/capi/test_hessian_*.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/context.hpp"
#include "core/npy.hpp"
#include "layer/hessian/hessian.hpp"

namespace {

// Fed X.npy in batches, as a caller streaming calibration data would, the accumulator
// reproduces the reference's H.npy (2/n · Σ xxᵀ), entry by entry relative to the diagonal
// and as a whole in Frobenius norm.
TEST(Hessian, StoriesFixtureMatchesReferenceH) {
    const std::string dir = std::string(SURGEON_FIXTURES_DIR) + "/stories260K_block2_wq";
    const surgeon::NpyArray x = surgeon::read_npy(dir + "/X.npy");
    const surgeon::NpyArray ref = surgeon::read_npy(dir + "/H.npy");
    ASSERT_EQ(x.shape.size(), 2u);
    const int64_t rows = x.dim(0), cols = x.dim(1);
    ASSERT_EQ(ref.dim(0), cols);
    ASSERT_EQ(ref.dim(1), cols);

    surgeon::Hessian h(surgeon::default_context(), cols);
    for (int64_t r0 = 0; r0 < rows; r0 += 512)
        h.add(x.data.data() + r0 * cols, std::min<int64_t>(512, rows - r0), cols);
    EXPECT_EQ(h.samples(), rows);

    const surgeon::Matrix got = h.matrix();
    ASSERT_EQ(got.rows, cols);
    ASSERT_EQ(got.cols, cols);
    double diff = 0, norm = 0, worst = 0;
    for (int64_t i = 0; i < cols; ++i)
        for (int64_t j = 0; j < cols; ++j) {
            const double a = got.data[static_cast<size_t>(i * cols + j)];
            const double b = ref.data[static_cast<size_t>(i * cols + j)];
            const double scale = std::sqrt(static_cast<double>(ref.data[static_cast<size_t>(i * cols + i)]) *
                                           ref.data[static_cast<size_t>(j * cols + j)]);
            worst = std::max(worst, std::fabs(a - b) / std::max(scale, 1e-30));
            diff += (a - b) * (a - b);
            norm += b * b;
        }
    EXPECT_LE(worst, 1e-5);
    EXPECT_LE(std::sqrt(diff / norm), 1e-5);
}

}  // namespace
