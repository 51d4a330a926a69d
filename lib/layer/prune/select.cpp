#include "layer/prune/select.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/parallel.hpp"

namespace surgeon {

namespace {

// Order-preserving map of a float onto an unsigned key (negative values flipped).
inline uint32_t sort_key(float f) {
    uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// Histogram of 16-bit digits of the keys, counted on `threads` threads.
template <typename Digit>
std::vector<int64_t> histogram(const float* scores, int64_t count, int threads, Digit digit) {
    std::vector<std::vector<int64_t>> partial(static_cast<size_t>(std::max(1, threads)));
    parallel_for(threads, count, [&](int64_t b, int64_t e, int w) {
        auto& h = partial[static_cast<size_t>(w)];
        h.assign(65536, 0);
        for (int64_t i = b; i < e; ++i) {
            const int32_t d = digit(sort_key(scores[i]));
            if (d >= 0) ++h[static_cast<size_t>(d)];
        }
    });
    std::vector<int64_t> total(65536, 0);
    for (const auto& h : partial)
        if (!h.empty())
            for (size_t i = 0; i < total.size(); ++i) total[i] += h[i];
    return total;
}

// Bin holding the k-th smallest (1-based); k becomes its rank inside the bin.
uint32_t find_bin(const std::vector<int64_t>& hist, int64_t& k) {
    uint32_t bin = 0;
    for (int64_t seen = 0;; ++bin) {
        if (seen + hist[bin] >= k) {
            k -= seen;
            return bin;
        }
        seen += hist[bin];
    }
}

// Key of the k-th smallest value: two 16-bit radix histogram passes, O(count).
uint32_t kth_smallest_key(const float* scores, int64_t count, int64_t k, int threads) {
    const uint32_t high = find_bin(
        histogram(scores, count, threads, [](uint32_t key) { return static_cast<int32_t>(key >> 16); }), k);
    const uint32_t low = find_bin(histogram(scores, count, threads, [high](uint32_t key) {
                                      return (key >> 16) == high ? static_cast<int32_t>(key & 0xffffu) : -1;
                                  }),
                                  k);
    return (high << 16) | low;
}

}  // namespace

// Entries below the k-th smallest are pruned, then entries equal to it in index order, so
// exactly k are pruned and ties resolve deterministically.
void prune_smallest(const float* scores, int64_t count, int64_t k, uint8_t* keep, int threads) {
    if (k <= 0) return;
    if (k >= count) {
        std::fill(keep, keep + count, uint8_t{0});
        return;
    }
    // Small inputs (a row) are not worth extra threads.
    if (count < (int64_t{1} << 16)) threads = 1;
    const uint32_t threshold = kth_smallest_key(scores, count, k, threads);
    std::vector<int64_t> below(static_cast<size_t>(std::max(1, threads)), 0);
    parallel_for(threads, count, [&](int64_t b, int64_t e, int w) {
        int64_t n = 0;
        for (int64_t i = b; i < e; ++i)
            if (sort_key(scores[i]) < threshold) {
                keep[i] = 0;
                ++n;
            }
        below[static_cast<size_t>(w)] = n;
    });
    int64_t taken = 0;
    for (int64_t n : below) taken += n;
    for (int64_t i = 0; i < count && taken < k; ++i)
        if (sort_key(scores[i]) == threshold) {
            keep[i] = 0;
            ++taken;
        }
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
