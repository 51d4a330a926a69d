#include "layer/quant/quantizer.hpp"

#include <algorithm>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "core/half.hpp"

namespace surgeon {

void QuantConfig::validate() const {
    require_arg(bits >= 2 && bits <= 8, "bits must be in [2, 8], got " + std::to_string(bits));
    require_arg(group_size >= 0, "group_size must be >= 0, got " + std::to_string(group_size));
    if (mse) {
        require_arg(norm > 0.0f && std::isfinite(norm), "mse norm must be > 0");
        require_arg(grid >= 1, "mse grid must be >= 1, got " + std::to_string(grid));
        require_arg(max_shrink > 0.0f && max_shrink <= 1.0f, "mse max_shrink must be in (0, 1]");
    }
    if (kind == GridKind::ggml) {
        require_arg(bits == 4 || bits == 8,
                    "the ggml grid is Q4_0 (4 bits) or Q8_0 (8 bits), got " + std::to_string(bits) + " bits");
        require_arg(symmetric, "the ggml grid (Q4_0/Q8_0) is symmetric: no asymmetric grid");
        require_arg(group_size == kGgmlBlock, "the ggml grid (Q4_0/Q8_0) needs groups of " +
                                                  std::to_string(kGgmlBlock) + " columns, got " +
                                                  std::to_string(group_size));
        require_arg(!mse, "the ggml grid (Q4_0/Q8_0) takes its scale from the group's largest "
                          "value: no MSE search");
        require_arg(!act_order || static_groups,
                    "the ggml grid (Q4_0/Q8_0) with act-order needs static groups (blocks of 32 "
                    "consecutive columns)");
    }
}

namespace {

// llama.cpp's Q4_0 and Q8_0 block scales (ggml's quantize_row_q4_0_ref / q8_0_ref),
// rounded to fp16 as the block stores them.
Grid ggml_grid(const float* x, int64_t n, int bits) {
    float amax = 0.0f, signed_max = 0.0f;  // the first value of largest magnitude
    for (int64_t i = 0; i < n; ++i)
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            signed_max = x[i];
        }
    Grid g;
    const float d = bits == 4 ? signed_max / -8.0f : amax / 127.0f;
    g.scale = f16_to_float(float_to_f16(d));
    g.maxq = (1 << bits) - 1;
    g.zero = static_cast<float>(1 << (bits - 1));
    require(std::isfinite(g.scale), SURGEON_ERR_UNSUPPORTED,
            "a weight of magnitude " + std::to_string(amax) + " overflows the fp16 scale of a " +
                (bits == 4 ? std::string("Q4_0") : std::string("Q8_0")) + " block");
    return g;
}

}  // namespace

Grid find_grid(const float* x, int64_t n, int bits, const QuantConfig& cfg) {
    if (cfg.kind == GridKind::ggml) return ggml_grid(x, n, bits);
    Grid g;
    g.maxq = (1 << bits) - 1;
    const float maxq = static_cast<float>(g.maxq);
    float xmin = 0.0f, xmax = 0.0f;  // the range always includes 0
    for (int64_t i = 0; i < n; ++i) {
        xmin = std::min(xmin, x[i]);
        xmax = std::max(xmax, x[i]);
    }
    if (cfg.symmetric) {
        xmax = std::max(-xmin, xmax);
        if (xmin < 0.0f) xmin = -xmax;
    }
    if (xmin == 0.0f && xmax == 0.0f) {
        xmin = -1.0f;
        xmax = 1.0f;
    }
    const float sym_zero = (maxq + 1.0f) / 2.0f;
    g.scale = (xmax - xmin) / maxq;
    g.zero = cfg.symmetric ? sym_zero : round_half_even(-xmin / g.scale);
    if (!cfg.mse) return g;

    float best = std::numeric_limits<float>::infinity();
    const int steps = static_cast<int>(cfg.max_shrink * static_cast<float>(cfg.grid));
    for (int i = 0; i < steps; ++i) {
        const float p = 1.0f - static_cast<float>(i) / static_cast<float>(cfg.grid);
        const float lo = p * xmin, hi = p * xmax;
        Grid c;
        c.maxq = g.maxq;
        c.scale = (hi - lo) / maxq;
        c.zero = cfg.symmetric ? sym_zero : round_half_even(-lo / c.scale);
        float err = 0.0f;
        for (int64_t k = 0; k < n; ++k)
            err += std::pow(std::fabs(quantize_value(x[k], c) - x[k]), cfg.norm);
        if (err < best) {
            best = err;
            g = c;
        }
    }
    return g;
}

void QuantResult::dequantize(float* out, int64_t ld) const {
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j) {
            const int64_t k = r * groups + g_idx[j];
            out[r * ld + j] = scales[k] * (static_cast<float>(codes[r * cols + j]) - zeros[k]);
        }
}

}  // namespace surgeon
