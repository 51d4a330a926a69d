// Keep/prune flags of a weight matrix (1 = keep), row-major.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/matrix.hpp"

namespace surgeon {

struct Mask {
    int64_t rows = 0, cols = 0;
    std::vector<uint8_t> keep;

    Mask() = default;
    Mask(int64_t r, int64_t c) : rows(r), cols(c), keep(static_cast<size_t>(r * c), 1) {}

    int64_t pruned() const;
    double sparsity() const;
    // Every row has >= n pruned entries in each group of m columns; a trailing group of
    // len < m columns (cols not a multiple of m) needs min(n, len).
    bool check_nm(int n, int m) const;
    std::vector<uint8_t> to_bits() const;  // LSB first, (rows·cols + 7) / 8 bytes
    void apply(MatView w) const;
};

// The mask of the zeros of w.
Mask mask_of_nonzeros(ConstMatView w);

// Validates pruning options shared by every method: sparsity in [0, 1), n:m with
// 0 < n < m or n = m = 0.
void validate_sparsity(double sparsity, int n, int m);
// Throws unless 0 < n < m <= 256 (the selection kernels keep one group on the stack).
void validate_nm(int n, int m);

// Number of entries to remove out of `count` for a sparsity (nearest integer).
int64_t prune_count(int64_t count, double sparsity);

}  // namespace surgeon
