#include "compress/tree_sum.hpp"

#include <string>

#include "core/error.hpp"

namespace surgeon::model {
namespace {

int64_t mid_of(const TreeNode& node) { return node.lo + (node.hi - node.lo) / 2; }

void cover_into(const TreeNode& node, int64_t first, int64_t last, std::vector<TreeNode>& out) {
    if (node.hi <= first || node.lo >= last) return;
    if (first <= node.lo && node.hi <= last) {
        out.push_back(node);
        return;
    }
    const int64_t mid = mid_of(node);
    cover_into({node.lo, mid}, first, last, out);
    cover_into({mid, node.hi}, first, last, out);
}

// Whether [lo, hi) is a node of the tree over [0, n) split at `mid`.
bool is_node_split_at(int64_t n, int64_t lo, int64_t hi, int64_t mid) {
    TreeNode node{0, n};
    while (node.hi - node.lo >= 2) {
        if (node.lo == lo && node.hi == hi) return mid_of(node) == mid;
        const int64_t m = mid_of(node);
        if (hi <= m) node.hi = m;
        else if (lo >= m) node.lo = m;
        else return false;
    }
    return false;
}

void add_into(std::vector<double>& left, const std::vector<double>& right) {
    require(left.size() == right.size(), SURGEON_ERR_INTERNAL,
            "tree sum: leaves of " + std::to_string(left.size()) + " and " + std::to_string(right.size()) + " values");
    for (size_t i = 0; i < left.size(); ++i) left[i] += right[i];
}

std::vector<double> root_of(const TreeNode& node, std::map<TreeNode, std::vector<double>>& nodes) {
    const auto it = nodes.find(node);
    if (it != nodes.end()) {
        std::vector<double> v = std::move(it->second);
        nodes.erase(it);
        return v;
    }
    require(node.hi - node.lo >= 2, SURGEON_ERR_INTERNAL,
            "tree sum: no value for sequence " + std::to_string(node.lo));
    const int64_t mid = mid_of(node);
    std::vector<double> left = root_of({node.lo, mid}, nodes);
    add_into(left, root_of({mid, node.hi}, nodes));
    return left;
}

}  // namespace

std::vector<TreeNode> tree_cover(int64_t n, int64_t first, int64_t last) {
    std::vector<TreeNode> out;
    if (n > 0 && first < last) cover_into({0, n}, first, last, out);
    return out;
}

TreeAccumulator::TreeAccumulator(int64_t n, int64_t first, int64_t last)
    : n_(n), next_(first), last_(last), cover_(tree_cover(n, first, last)) {}

void TreeAccumulator::push(std::vector<double> leaf) {
    require(next_ < last_, SURGEON_ERR_INTERNAL, "tree sum: more leaves than sequences");
    stack_.push_back({{next_, next_ + 1}, std::move(leaf)});
    ++next_;
    settle();
}

std::vector<double>* TreeAccumulator::next_joins() {
    if (next_ >= last_ || stack_.empty()) return nullptr;
    const TreeNode& top = stack_.back().first;
    if (top.hi != next_ || top.hi - top.lo != 1 || !is_node_split_at(n_, top.lo, next_ + 1, next_)) return nullptr;
    return &stack_.back().second;
}

void TreeAccumulator::push_added() {
    require(next_joins() != nullptr, SURGEON_ERR_INTERNAL, "tree sum: a leaf added where it does not join");
    stack_.back().first.hi = ++next_;
    settle();
}

// Adjacent finished siblings make their parent, as far up as the current cover node.
void TreeAccumulator::settle() {
    for (;;) {
        const TreeNode& top = stack_.back().first;
        if (done_ < cover_.size() && top == cover_[done_]) {
            finished_.push_back(std::move(stack_.back()));
            stack_.pop_back();
            ++done_;
            break;
        }
        if (stack_.size() < 2) break;
        auto& left = stack_[stack_.size() - 2];
        const TreeNode& right = top;
        if (left.first.hi != right.lo || !is_node_split_at(n_, left.first.lo, right.hi, right.lo)) break;
        add_into(left.second, stack_.back().second);
        left.first.hi = right.hi;
        stack_.pop_back();
    }
}

std::vector<std::pair<TreeNode, std::vector<double>>> TreeAccumulator::take() {
    require(next_ == last_ && stack_.empty() && done_ == cover_.size(), SURGEON_ERR_INTERNAL,
            "tree sum: taken before every leaf was pushed");
    return std::move(finished_);
}

std::vector<double> tree_root(int64_t n, std::map<TreeNode, std::vector<double>> nodes) {
    require(n > 0, SURGEON_ERR_INTERNAL, "tree sum over no sequence");
    std::vector<double> root = root_of({0, n}, nodes);
    require(nodes.empty(), SURGEON_ERR_INTERNAL, "tree sum: nodes outside the tree");
    return root;
}

}  // namespace surgeon::model
