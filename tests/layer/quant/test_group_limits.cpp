// Quantization groups against the row width: the group count has the closed form
// ceil(cols / group) for every group size up to INT64_MAX (no overflow), and a group at
// least as wide as the row is one grid per row — what group_size 0 gives.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>

#include "core/context.hpp"
#include "core/matrix.hpp"
#include "layer/quant/mixed_stats.hpp"
#include "layer/quant/quantizer.hpp"
#include "layer/quant/rtn.hpp"

namespace surgeon {
namespace {

constexpr int64_t kHuge = std::numeric_limits<int64_t>::max();

TEST(GroupLimits, GroupCountIsTheCeilingForEveryGroupSize) {
    struct Case {
        int64_t cols, group, groups;
    };
    const Case cases[] = {{172, 0, 1},        {172, 1, 172},        {172, 32, 6},      {172, 171, 2},
                          {172, 172, 1},      {172, 173, 1},        {172, kHuge, 1},   {172, kHuge - 1, 1},
                          {1, kHuge, 1},      {kHuge, kHuge, 1},    {kHuge, 2, kHuge / 2 + 1},
                          {kHuge, 1, kHuge}};
    for (const Case& c : cases) {
        QuantConfig q;
        q.group_size = c.group;
        EXPECT_EQ(q.groups(c.cols), c.groups) << c.cols << " cols, group " << c.group;
    }
}

TEST(GroupLimits, RtnWithAGroupWiderThanTheRowIsPerRow) {
    const int64_t rows = 9, cols = 172;
    std::mt19937 rng(7);
    std::normal_distribution<float> g(0.0f, 1.0f);
    Matrix w0(rows, cols);
    for (float& v : w0.data) v = g(rng);
    QuantConfig q;
    q.bits = 4;
    Matrix per_row = w0;
    QuantResult ref;
    quantize_rtn(*default_context(), per_row.view(), q, &ref);
    ASSERT_NE(per_row.data, w0.data);
    for (int64_t group : {cols, cols + 1, kHuge}) {
        q.group_size = group;
        Matrix w = w0;
        QuantResult r;
        quantize_rtn(*default_context(), w.view(), q, &r);
        EXPECT_EQ(r.groups, 1) << group;
        EXPECT_EQ(r.scales, ref.scales) << group;
        EXPECT_EQ(r.codes, ref.codes) << group;
        EXPECT_EQ(w.data, per_row.data) << group;
    }
}

TEST(GroupLimits, MixedStatsCountOneGridPerRowForAHugeGroup) {
    const std::vector<int> bits = {2, 3, 4};
    const MixedStats per_row = mixed_stats(bits, 64, 0, OverheadModel{}, nullptr);
    const MixedStats huge = mixed_stats(bits, 64, kHuge, OverheadModel{}, nullptr);
    EXPECT_EQ(huge.grids, 3);
    EXPECT_EQ(huge.grids, per_row.grids);
    EXPECT_DOUBLE_EQ(huge.overhead_bits, per_row.overhead_bits);
}

}  // namespace
}  // namespace surgeon
