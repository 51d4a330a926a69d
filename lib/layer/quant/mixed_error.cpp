#include "layer/quant/mixed_error.hpp"

#include <algorithm>
#include <string>

#include "core/checks.hpp"
#include "core/parallel.hpp"

namespace surgeon {
namespace {

// Σ_j c_j (x_j − q(x_j))² over one group. The hot loop of the allocator (rows · cols ·
// options): multiply by 1/scale and round with the 1.5·2²³ trick (|x/scale| stays far
// below 2²² on its own grid), in independent lanes so the compiler vectorizes the sum.
// Ties may round differently from the solver's division; this is an estimate.
double group_error(const float* x, const float* c, int64_t n, const Grid& g) {
    constexpr int kLanes = 8;
    constexpr float kMagic = 12582912.0f;
    const float inv = 1.0f / g.scale, scale = g.scale, zero = g.zero;
    const float maxq = static_cast<float>(g.maxq);
    float lane[kLanes] = {};
    int64_t j = 0;
    for (; j + kLanes <= n; j += kLanes)
        for (int l = 0; l < kLanes; ++l) {
            const float v = x[j + l];
            float q = ((v * inv + kMagic) - kMagic) + zero;
            q = std::min(std::max(q, 0.0f), maxq);
            const float d = v - scale * (q - zero);
            lane[l] += c[j + l] * d * d;
        }
    double acc = 0.0;
    for (float v : lane) acc += v;
    for (; j < n; ++j) {
        const double d = x[j] - quantize_value(x[j], g);
        acc += c[j] * d * d;
    }
    return acc;
}

// Without the MSE search a grid depends only on the range of its values (which always
// includes 0), so find_grid on {min, max} gives the same grid: one pass finds the range
// for every option.
void range_of(const float* x, int64_t n, float range[2]) {
    float lo = 0.0f, hi = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
        lo = std::min(lo, x[j]);
        hi = std::max(hi, x[j]);
    }
    range[0] = lo;
    range[1] = hi;
}

}  // namespace

std::vector<float> obs_column_weights(const Matrix& u) {
    std::vector<float> c(static_cast<size_t>(u.cols));
    for (int64_t j = 0; j < u.cols; ++j) {
        const float d = u(j, j);
        c[j] = d != 0.0f ? 1.0f / (d * d) : 0.0f;
    }
    return c;
}

std::vector<double> estimate_row_errors(const Context& ctx, ConstMatView w,
                                        const std::vector<float>& column_weight,
                                        const QuantConfig& cfg, const std::vector<int>& options) {
    require_not_null(w.data, "weight");
    require_shape(w.rows >= 1 && w.cols >= 1, "weight is empty");
    require_shape(static_cast<int64_t>(column_weight.size()) == w.cols,
                  "weight has " + std::to_string(w.cols) + " columns, the column weights " +
                      std::to_string(column_weight.size()));
    require_arg(!options.empty(), "the set of bit options is empty");
    for (int b : options)
        require_arg(b >= 1 && b <= 8, "bit option must be in [1, 8], got " + std::to_string(b));
    QuantConfig base = cfg;
    base.bits = 4;  // validated with a placeholder width: the options replace it
    base.validate();
    require_finite(w.data, w.rows, w.cols, w.ld, "weight");

    const size_t k = options.size();
    const int64_t cols = w.cols;
    const int64_t gsize = cfg.group_size > 0 ? cfg.group_size : cols;
    std::vector<double> errors(static_cast<size_t>(w.rows) * k);
    parallel_for(ctx.effective_threads(), w.rows, [&](int64_t r0, int64_t r1, int) {
        for (int64_t r = r0; r < r1; ++r) {
            const float* row = w.row(r);
            double* err = errors.data() + static_cast<size_t>(r) * k;
            for (int64_t c0 = 0; c0 < cols; c0 += gsize) {
                const int64_t len = std::min(gsize, cols - c0);
                float range[2];
                if (!cfg.mse) range_of(row + c0, len, range);
                for (size_t m = 0; m < k; ++m) {
                    const Grid g = cfg.mse ? find_grid(row + c0, len, options[m], cfg)
                                           : find_grid(range, 2, options[m], cfg);
                    err[m] += group_error(row + c0, column_weight.data() + c0, len, g);
                }
            }
        }
    });
    return errors;
}

}  // namespace surgeon
