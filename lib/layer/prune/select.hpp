// Selection of the entries to prune from scores (smaller score = pruned first). Ties are
// broken by position, so results are deterministic.
#pragma once

#include <cstdint>

namespace surgeon {

// Sets keep[i] = 0 for the k smallest of scores[0..count), counting on `threads` threads.
void prune_smallest(const float* scores, int64_t count, int64_t k, uint8_t* keep, int threads = 1);

// For one row of `count` entries: in each group of m consecutive entries (the last may be
// shorter), sets keep = 0 for the n smallest.
void prune_n_of_m(const float* scores, int64_t count, int n, int m, uint8_t* keep);

}  // namespace surgeon
