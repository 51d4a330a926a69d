#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.hpp"

namespace surgeon {

// Returns the index of the first non-finite element of a strided matrix, or -1.
inline int64_t first_non_finite(const float* x, int64_t rows, int64_t cols, int64_t ld) {
    for (int64_t r = 0; r < rows; ++r) {
        const float* p = x + r * ld;
        for (int64_t c = 0; c < cols; ++c)
            if (!std::isfinite(p[c])) return r * cols + c;
    }
    return -1;
}

inline void require_finite(const float* x, int64_t rows, int64_t cols, int64_t ld,
                           const char* what) {
    int64_t bad = first_non_finite(x, rows, cols, ld);
    if (bad >= 0)
        fail(SURGEON_ERR_NUMERIC, std::string(what) + " has a non-finite value at row " +
                                      std::to_string(bad / (cols ? cols : 1)) + ", column " +
                                      std::to_string(bad % (cols ? cols : 1)));
}

inline void require_not_null(const void* p, const char* what) {
    require_arg(p != nullptr, std::string(what) + " is NULL");
}

}  // namespace surgeon
