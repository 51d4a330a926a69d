// The fixed-tree sums of compress/tree_sum.hpp and the shares of compress/reducer.hpp: the
// cover of a range is exact, and the root holds the same bits however the leaves are split
// between ranks (while a plain left-to-right sum of the same leaves does not).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>

#include "compress/reducer.hpp"
#include "compress/tree_sum.hpp"

using namespace surgeon;
using namespace surgeon::model;

namespace {

// Leaves whose magnitudes span 2^-30 .. 2^30, so that the order of fp64 additions matters.
std::vector<std::vector<double>> random_leaves(int64_t n, size_t width, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> mantissa(-1.0, 1.0);
    std::uniform_int_distribution<int> exponent(-30, 30);
    std::vector<std::vector<double>> leaves(static_cast<size_t>(n), std::vector<double>(width));
    for (auto& leaf : leaves)
        for (double& v : leaf) v = std::ldexp(mantissa(rng), exponent(rng));
    return leaves;
}

// The root with the leaves split into `ranks` shares, each summed by its own accumulator.
std::vector<double> root_over_ranks(const std::vector<std::vector<double>>& leaves, int ranks) {
    const auto n = static_cast<int64_t>(leaves.size());
    std::map<TreeNode, std::vector<double>> nodes;
    for (int r = 0; r < ranks; ++r) {
        const auto [first, last] = share_of(n, r, ranks);
        TreeAccumulator acc(n, first, last);
        for (int64_t i = first; i < last; ++i) acc.push(leaves[static_cast<size_t>(i)]);
        for (auto& [node, value] : acc.take()) EXPECT_TRUE(nodes.emplace(node, std::move(value)).second);
    }
    return tree_root(n, std::move(nodes));
}

// The nodes of exactly two leaves in the tree over [lo, hi).
int64_t two_leaf_nodes(int64_t lo, int64_t hi) {
    if (hi - lo < 2) return 0;
    if (hi - lo == 2) return 1;
    const int64_t mid = lo + (hi - lo) / 2;
    return two_leaf_nodes(lo, mid) + two_leaf_nodes(mid, hi);
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

}  // namespace

TEST(TreeSum, CoverIsExactAndMadeOfTreeNodes) {
    for (int64_t n = 1; n <= 40; ++n)
        for (int64_t first = 0; first <= n; ++first)
            for (int64_t last = first; last <= n; ++last) {
                const std::vector<TreeNode> cover = tree_cover(n, first, last);
                int64_t at = first;
                for (const TreeNode& node : cover) {
                    ASSERT_EQ(node.lo, at) << n << " [" << first << ", " << last << ")";
                    ASSERT_GT(node.hi, node.lo);
                    at = node.hi;
                    // A node of the tree: its own cover is itself.
                    const std::vector<TreeNode> self = tree_cover(n, node.lo, node.hi);
                    ASSERT_EQ(self.size(), 1u);
                    ASSERT_TRUE(self[0] == node);
                }
                ASSERT_EQ(at, first == last ? first : last);
                if (first == 0 && last == n) {
                    ASSERT_EQ(cover.size(), 1u);  // the root
                }
            }
}

TEST(TreeSum, RootIsTheSameForAnySplit) {
    for (int64_t n : {1, 2, 3, 7, 16, 37, 128}) {
        const auto leaves = random_leaves(n, 5, static_cast<uint32_t>(n));
        const std::vector<double> one = root_over_ranks(leaves, 1);
        for (int ranks = 2; ranks <= 9; ++ranks)
            EXPECT_TRUE(same_bits(root_over_ranks(leaves, ranks), one)) << n << " leaves, " << ranks << " ranks";
        // Against an exact reference: long double sums agree to fp64 rounding.
        for (size_t k = 0; k < one.size(); ++k) {
            long double exact = 0.0L, scale = 0.0L;
            for (const auto& leaf : leaves) {
                exact += leaf[k];
                scale += std::fabs(leaf[k]);
            }
            EXPECT_NEAR(static_cast<double>(exact), one[k], 1e-15 * static_cast<double>(scale) * static_cast<double>(n));
        }
    }
}

// The teeth of the test above: the additions of these leaves do not commute in fp64, so
// a sum whose order followed the split would differ.
TEST(TreeSum, LeftToRightSumsOfTheSameLeavesDiffer) {
    const auto leaves = random_leaves(37, 5, 37);
    std::vector<double> forward(5, 0.0), backward(5, 0.0);
    for (const auto& leaf : leaves)
        for (size_t k = 0; k < 5; ++k) forward[k] += leaf[k];
    for (auto it = leaves.rbegin(); it != leaves.rend(); ++it)
        for (size_t k = 0; k < 5; ++k) backward[k] += (*it)[k];
    EXPECT_FALSE(same_bits(forward, backward));
}

TEST(TreeSum, MisuseIsAnInternalError) {
    TreeAccumulator acc(4, 1, 3);
    acc.push({1.0});
    try {
        acc.take();
        FAIL() << "taken with a leaf missing";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_INTERNAL);
    }
    acc.push({2.0});
    EXPECT_THROW(acc.push({3.0}), Error);
    EXPECT_THROW(tree_root(4, {}), Error);
}

TEST(Shares, ContiguousBalancedAndComplete) {
    for (int64_t n : {0, 1, 5, 16, 17}) {
        for (int ranks = 1; ranks <= 6; ++ranks) {
            int64_t at = 0;
            for (int r = 0; r < ranks; ++r) {
                const auto [first, last] = share_of(n, r, ranks);
                EXPECT_EQ(first, at);
                EXPECT_GE(last - first, n / ranks);
                EXPECT_LE(last - first, n / ranks + 1);
                at = last;
            }
            EXPECT_EQ(at, n);
        }
    }
}

TEST(Reducer, SingleProcessAgreesWithItself) {
    SingleProcess one;
    EXPECT_NO_THROW(agree_on_errors(one, SURGEON_OK, ""));
    try {
        agree_on_errors(one, SURGEON_ERR_NUMERIC, "bad value");
        FAIL() << "no error thrown";
    } catch (const JobError& e) {
        EXPECT_EQ(e.status(), SURGEON_ERR_NUMERIC);
        EXPECT_STREQ(e.what(), "bad value");
        EXPECT_EQ(e.failed_rank(), 0);
    }
    std::vector<char> bytes{'a', 'b'};
    one.broadcast(0, bytes);
    EXPECT_EQ(bytes, (std::vector<char>{'a', 'b'}));
    EXPECT_EQ(one.gather(0, bytes), (std::vector<std::vector<char>>{bytes}));
}

// Right leaves added in place into their left sibling (next_joins + push_added, what the
// block pipeline does to hold one n × n sum fewer) give the bits of pushing every leaf, for
// every share of every split; the joins happen exactly at the two-leaf nodes.
TEST(TreeSum, RightLeavesAddedInPlaceMatchPushedLeaves) {
    for (int64_t n = 1; n <= 23; ++n) {
        const auto leaves = random_leaves(n, 5, static_cast<uint32_t>(200 + n));
        for (int ranks = 1; ranks <= std::min<int64_t>(n, 4); ++ranks) {
            std::map<TreeNode, std::vector<double>> nodes;
            int64_t joins = 0;
            for (int r = 0; r < ranks; ++r) {
                const std::pair<int64_t, int64_t> share = share_of(n, r, ranks);
                TreeAccumulator acc(n, share.first, share.second);
                for (int64_t i = share.first; i < share.second; ++i) {
                    const std::vector<double>& leaf = leaves[static_cast<size_t>(i)];
                    if (std::vector<double>* sum = acc.next_joins()) {
                        for (size_t k = 0; k < leaf.size(); ++k) (*sum)[k] = (*sum)[k] + leaf[k];
                        acc.push_added();
                        ++joins;
                    } else {
                        acc.push(leaf);
                    }
                }
                for (auto& [node, value] : acc.take()) nodes.emplace(node, std::move(value));
            }
            EXPECT_TRUE(same_bits(tree_root(n, std::move(nodes)), root_over_ranks(leaves, ranks)))
                << n << " sequences, " << ranks << " ranks";
            if (ranks == 1) {
                EXPECT_EQ(joins, two_leaf_nodes(0, n)) << n;
            }
        }
    }
}
