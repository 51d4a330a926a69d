// Minimal row-major views and an owning matrix. Views carry a leading dimension so the
// library can work on sub-blocks of caller buffers without copying.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "core/big_allocator.hpp"
#include "core/error.hpp"

namespace surgeon {

template <typename T>
struct View {
    T* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
    int64_t ld = 0;

    View() = default;
    View(T* d, int64_t r, int64_t c, int64_t l) : data(d), rows(r), cols(c), ld(l) {}
    // A mutable view converts to a read-only one.
    template <typename U, typename = std::enable_if_t<std::is_same_v<const U, T> &&
                                                      !std::is_same_v<U, T>>>
    View(const View<U>& o) : data(o.data), rows(o.rows), cols(o.cols), ld(o.ld) {}

    T* row(int64_t r) const { return data + r * ld; }
    T& operator()(int64_t r, int64_t c) const { return data[r * ld + c]; }
};

using MatView = View<float>;
using ConstMatView = View<const float>;

using FloatBuffer = std::vector<float, BigAllocator<float>>;

struct Matrix {
    int64_t rows = 0;
    int64_t cols = 0;
    FloatBuffer data;

    Matrix() = default;
    Matrix(int64_t r, int64_t c, float fill = 0.0f)
        : rows(r), cols(c), data(static_cast<size_t>(r * c), fill) {}
    // Takes the values of a row-major rows × cols array.
    Matrix(int64_t r, int64_t c, const std::vector<float>& values)
        : rows(r), cols(c), data(values.begin(), values.end()) {
        require_shape(static_cast<int64_t>(values.size()) == r * c,
                      "matrix values: " + std::to_string(values.size()) + " for " +
                          std::to_string(r) + " x " + std::to_string(c));
    }

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

// Copies the upper triangle of a square matrix onto the lower one, tile by tile so both
// sides stay in cache.
inline void mirror_upper(Matrix& m) {
    constexpr int64_t kTile = 64;
    const int64_t n = m.rows;
    for (int64_t i0 = 0; i0 < n; i0 += kTile)
        for (int64_t j0 = 0; j0 <= i0; j0 += kTile)
            for (int64_t i = i0; i < std::min(n, i0 + kTile); ++i)
                for (int64_t j = j0; j < std::min(i, j0 + kTile); ++j) m(i, j) = m(j, i);
}

inline void copy_out(const Matrix& m, float* dst, int64_t ld) {
    for (int64_t r = 0; r < m.rows; ++r)
        std::memcpy(dst + r * ld, m.row(r), sizeof(float) * static_cast<size_t>(m.cols));
}

}  // namespace surgeon
