#include "layer/quant/quantizer.hpp"

#include <algorithm>
#include <limits>
#include <string>

#include "core/error.hpp"

namespace surgeon {

void QuantConfig::validate() const {
    require_arg(bits >= 2 && bits <= 8, "bits must be in [2, 8], got " + std::to_string(bits));
    require_arg(group_size >= 0, "group_size must be >= 0, got " + std::to_string(group_size));
    if (mse) {
        require_arg(norm > 0.0f && std::isfinite(norm), "mse norm must be > 0");
        require_arg(grid >= 1, "mse grid must be >= 1, got " + std::to_string(grid));
        require_arg(max_shrink > 0.0f && max_shrink <= 1.0f, "mse max_shrink must be in (0, 1]");
    }
}

Grid find_grid(const float* x, int64_t n, int bits, const QuantConfig& cfg) {
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
