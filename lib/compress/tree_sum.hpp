// Sums over the calibration sequences that do not depend on how the sequences are split
// between ranks. Every sequence contributes one leaf (a vector of doubles, the same length
// for all); leaves are added in fp64 along one fixed binary tree over the sequence indices
// [0, n): a node [lo, hi) with hi − lo ≥ 2 is the sum (left + right) of its children
// [lo, mid) and [mid, hi), mid = lo + (hi − lo) / 2. A rank holding the sequences
// [first, last) sums the nodes of the tree that cover its range exactly (tree_cover); the
// root is then formed from the cover nodes of every rank by the same additions, so the
// root holds the same bits for any number of ranks and any split.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace surgeon::model {

struct TreeNode {
    int64_t lo = 0, hi = 0;
    bool operator<(const TreeNode& o) const { return lo != o.lo ? lo < o.lo : hi < o.hi; }
    bool operator==(const TreeNode& o) const { return lo == o.lo && hi == o.hi; }
};

// The largest nodes of the tree over [0, n) that lie inside [first, last), left to right
// (empty when the range is).
std::vector<TreeNode> tree_cover(int64_t n, int64_t first, int64_t last);

// Sums the leaves first, first + 1, ..., last − 1, pushed in that order, into the values of
// the cover nodes of [first, last). Holds one vector per level of the tree at most.
class TreeAccumulator {
public:
    TreeAccumulator(int64_t n, int64_t first, int64_t last);
    void push(std::vector<double> leaf);
    // The sum the next leaf joins at once (it is the right child of a two-leaf node whose left
    // leaf was the last pushed), else null. Adding the leaf into it and calling push_added()
    // is push(leaf) without holding the leaf: the left value plus the right, as push adds.
    std::vector<double>* next_joins();
    void push_added();
    // The cover nodes with their sums, once every leaf was pushed.
    std::vector<std::pair<TreeNode, std::vector<double>>> take();

private:
    void settle();

    int64_t n_, next_, last_;
    std::vector<TreeNode> cover_;
    size_t done_ = 0;  // cover nodes finished
    std::vector<std::pair<TreeNode, std::vector<double>>> stack_, finished_;
};

// The root of the tree over [0, n) from nodes that together cover [0, n) (each rank's
// tree_cover, with its sums).
std::vector<double> tree_root(int64_t n, std::map<TreeNode, std::vector<double>> nodes);

}  // namespace surgeon::model
