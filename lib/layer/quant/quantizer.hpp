// Uniform affine quantization grids (the GPTQ reference quantizer): w ≈ scale·(q − zero),
// q = clamp(round(w / scale) + zero, 0, maxq), round half to even.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace surgeon {

// Grids per row of `cols` columns in groups of `group_size` (0: one per row), without the
// overflow of (cols + group_size - 1) / group_size for a group_size near INT64_MAX.
inline int64_t group_count(int64_t cols, int64_t group_size) {
    if (group_size <= 0) return 1;
    return cols <= 0 ? 0 : (cols - 1) / group_size + 1;
}

// The grid family. affine: the GPTQ reference grids above (scale and zero from the
// group's range). ggml: llama.cpp's block formats, one fp16 scale d per group of 32
// columns and no stored zero, so a result is exactly a GGUF tensor: Q4_0 at 4 bits
// (d = m / -8, m the group's value of largest magnitude with its sign; code q + 8 in
// 0..15) and Q8_0 at 8 bits (d = max|x| / 127; code q + 128 in 0..255). d is rounded to
// fp16 before any code is chosen; a group's dequantized value is d · (code - zero).
enum class GridKind { affine, ggml };
constexpr int64_t kGgmlBlock = 32;  // columns per Q4_0 / Q8_0 block

struct QuantConfig {
    int bits = 4;
    bool symmetric = true;
    // 0: one grid per row. A group_size >= the column count is one group spanning the row
    // (the same grids as 0); it is never an error, so one recipe fits layers of any width.
    int64_t group_size = 0;
    bool mse = false;
    float norm = 2.4f;
    int grid = 100;
    float max_shrink = 0.8f;
    bool act_order = false;
    bool static_groups = false;
    // ggml needs bits 4 or 8, a symmetric grid, group_size 32, no MSE search, and act_order
    // only with static_groups (groups then stay 32 consecutive columns).
    GridKind kind = GridKind::affine;

    void validate() const;  // throws SURGEON_ERR_INVALID_ARGUMENT
    int64_t groups(int64_t cols) const { return group_count(cols, group_size); }
};

struct Grid {
    float scale = 1.0f;
    float zero = 0.0f;
    int maxq = 15;
};

// Round half to even like torch.round, without a libm call: adding and removing 1.5·2²³
// leaves the nearest integer under the default rounding mode (|v| < 2²²; larger floats
// are already integers). IEEE semantics forbid folding the two operations (no fast-math).
inline float round_half_even(float v) {
    if (!(std::fabs(v) < 4194304.0f)) return v;
    return (v + 12582912.0f) - 12582912.0f;
}

inline float quantize_code(float x, const Grid& g) {
    const float q = round_half_even(x / g.scale) + g.zero;
    return std::fmin(std::fmax(q, 0.0f), static_cast<float>(g.maxq));
}

inline float dequantize_code(float code, const Grid& g) { return g.scale * (code - g.zero); }

inline float quantize_value(float x, const Grid& g) { return dequantize_code(quantize_code(x, g), g); }

// The grid for n values (one row, or one group of a row) with 2^bits levels, including
// the optional MSE clipping search; for GridKind::ggml, the Q4_0 / Q8_0 block scale.
// Throws SURGEON_ERR_UNSUPPORTED when a ggml scale overflows fp16.
Grid find_grid(const float* x, int64_t n, int bits, const QuantConfig& cfg);

// Integer representation of a quantized matrix; see surgeon_qresult in the C API.
struct QuantResult {
    int64_t rows = 0, cols = 0, groups = 0;
    int bits = 0;
    std::vector<int> row_bits;    // per-row bit widths (1..8) of a mixed-precision result;
                                  // empty when every row uses `bits`
    std::vector<uint8_t> codes;   // rows × cols, original column order
    std::vector<float> scales;    // rows × groups
    std::vector<float> zeros;     // rows × groups
    std::vector<int32_t> g_idx;   // cols
    std::vector<int32_t> perm;    // cols

    int bits_of_row(int64_t r) const { return row_bits.empty() ? bits : row_bits[r]; }
    void dequantize(float* out, int64_t ld) const;
};

}  // namespace surgeon
