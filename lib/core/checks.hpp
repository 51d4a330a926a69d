#pragma once

#include <cmath>
#include <cstdint>
#include <sstream>
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

// The n values at x, read from a file or built from it, are all finite; otherwise
// SURGEON_ERR_NUMERIC "<what> has a non-finite value (nan) at element i", i counted from
// `first` (where x starts inside the whole array).
inline void require_all_finite(const float* x, int64_t n, const std::string& what, int64_t first = 0) {
    const int64_t bad = first_non_finite(x, 1, n, n);
    if (bad < 0) return;
    std::ostringstream message;
    message << what << " has a non-finite value (" << x[bad] << ") at element " << first + bad;
    fail(SURGEON_ERR_NUMERIC, message.str());
}

// A finite value >= lo (an option such as damping, temperature or a ratio's lower end).
inline void require_finite_at_least(double value, double lo, const char* what) {
    if (std::isfinite(value) && value >= lo) return;
    std::ostringstream message;
    message << what << " must be finite and >= " << lo << ", got " << value;
    fail(SURGEON_ERR_INVALID_ARGUMENT, message.str());
}

// An integer option >= lo (a count, a size, a thread number).
inline void require_at_least(int64_t value, int64_t lo, const char* what) {
    require_arg(value >= lo, std::string(what) + " must be >= " + std::to_string(lo) + ", got " + std::to_string(value));
}

inline void require_not_null(const void* p, const char* what) {
    require_arg(p != nullptr, std::string(what) + " is NULL");
}

}  // namespace surgeon
