#include "layer/prune/mask.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"

namespace surgeon {

int64_t Mask::pruned() const {
    int64_t n = 0;
    for (uint8_t k : keep) n += k ? 0 : 1;
    return n;
}

double Mask::sparsity() const {
    return keep.empty() ? 0.0 : static_cast<double>(pruned()) / static_cast<double>(keep.size());
}

bool Mask::check_nm(int n, int m) const {
    if (m <= 0 || n < 0) return false;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c0 = 0; c0 < cols; c0 += m) {
            const int64_t len = std::min<int64_t>(m, cols - c0);
            int64_t zeros = 0;
            for (int64_t c = c0; c < c0 + len; ++c) zeros += keep[r * cols + c] ? 0 : 1;
            if (zeros < std::min<int64_t>(n, len)) return false;
        }
    return true;
}

std::vector<uint8_t> Mask::to_bits() const {
    std::vector<uint8_t> bits((keep.size() + 7) / 8, 0);
    for (size_t k = 0; k < keep.size(); ++k)
        if (keep[k]) bits[k / 8] |= static_cast<uint8_t>(1u << (k % 8));
    return bits;
}

void Mask::apply(MatView w) const {
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
            if (!keep[r * cols + c]) w(r, c) = 0.0f;
}

Mask mask_of_nonzeros(ConstMatView w) {
    Mask m(w.rows, w.cols);
    for (int64_t r = 0; r < w.rows; ++r)
        for (int64_t c = 0; c < w.cols; ++c) m.keep[r * w.cols + c] = w(r, c) != 0.0f;
    return m;
}

void validate_nm(int n, int m) {
    require_arg(n > 0 && m > n && m <= 256,
                "n:m must satisfy 0 < n < m <= 256, got " + std::to_string(n) + ":" + std::to_string(m));
}

void validate_sparsity(double sparsity, int n, int m) {
    if (n != 0 || m != 0) return validate_nm(n, m);
    require_arg(std::isfinite(sparsity) && sparsity >= 0.0 && sparsity < 1.0,
                "sparsity must be in [0, 1), got " + std::to_string(sparsity));
}

int64_t prune_count(int64_t count, double sparsity) {
    return static_cast<int64_t>(std::llround(static_cast<double>(count) * sparsity));
}

}  // namespace surgeon
