#include "prune/select.hpp"

#include <algorithm>
#include <numeric>
#include <vector>

namespace surgeon {

void prune_smallest(const float* scores, int64_t count, int64_t k, uint8_t* keep) {
    if (k <= 0) return;
    if (k >= count) {
        std::fill(keep, keep + count, uint8_t{0});
        return;
    }
    std::vector<int64_t> idx(static_cast<size_t>(count));
    std::iota(idx.begin(), idx.end(), int64_t{0});
    auto less = [scores](int64_t a, int64_t b) {
        return scores[a] < scores[b] || (scores[a] == scores[b] && a < b);
    };
    std::nth_element(idx.begin(), idx.begin() + k, idx.end(), less);
    for (int64_t i = 0; i < k; ++i) keep[idx[i]] = 0;
}

void prune_n_of_m(const float* scores, int64_t count, int n, int m, uint8_t* keep) {
    int64_t idx[256];
    for (int64_t c0 = 0; c0 < count; c0 += m) {
        const int64_t len = std::min<int64_t>(m, count - c0);
        const int64_t take = std::min<int64_t>(n, len);
        std::iota(idx, idx + len, c0);
        std::partial_sort(idx, idx + take, idx + len, [scores](int64_t a, int64_t b) {
            return scores[a] < scores[b] || (scores[a] == scores[b] && a < b);
        });
        for (int64_t i = 0; i < take; ++i) keep[idx[i]] = 0;
    }
}

}  // namespace surgeon
