// Minimal row-major views and an owning matrix. Views carry a leading dimension so the
// library can work on sub-blocks of caller buffers without copying.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace surgeon {

template <typename T>
struct View {
    T* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
    int64_t ld = 0;

    T* row(int64_t r) const { return data + r * ld; }
    T& operator()(int64_t r, int64_t c) const { return data[r * ld + c]; }
};

using MatView = View<float>;
using ConstMatView = View<const float>;

struct Matrix {
    int64_t rows = 0;
    int64_t cols = 0;
    std::vector<float> data;

    Matrix() = default;
    Matrix(int64_t r, int64_t c, float fill = 0.0f)
        : rows(r), cols(c), data(static_cast<size_t>(r * c), fill) {}

    float* row(int64_t r) { return data.data() + r * cols; }
    const float* row(int64_t r) const { return data.data() + r * cols; }
    float& operator()(int64_t r, int64_t c) { return data[static_cast<size_t>(r * cols + c)]; }
    float operator()(int64_t r, int64_t c) const { return data[static_cast<size_t>(r * cols + c)]; }
    MatView view() { return {data.data(), rows, cols, cols}; }
    ConstMatView view() const { return {data.data(), rows, cols, cols}; }
};

// Resolves ld == 0 to cols and validates a caller's (rows, cols, ld) triple.
inline int64_t resolve_ld(int64_t rows, int64_t cols, int64_t ld, const char* what) {
    require_shape(rows >= 0 && cols >= 0,
                  std::string(what) + ": negative dimension " + std::to_string(rows) + " x " +
                      std::to_string(cols));
    if (ld == 0) return cols;
    require_shape(ld >= cols, std::string(what) + ": leading dimension " + std::to_string(ld) +
                                  " < cols " + std::to_string(cols));
    return ld;
}

// Copies a strided caller buffer into a packed matrix.
inline Matrix copy_in(const float* src, int64_t rows, int64_t cols, int64_t ld) {
    Matrix m(rows, cols);
    for (int64_t r = 0; r < rows; ++r)
        std::memcpy(m.row(r), src + r * ld, sizeof(float) * static_cast<size_t>(cols));
    return m;
}

inline void copy_out(const Matrix& m, float* dst, int64_t ld) {
    for (int64_t r = 0; r < m.rows; ++r)
        std::memcpy(dst + r * ld, m.row(r), sizeof(float) * static_cast<size_t>(m.cols));
}

}  // namespace surgeon
