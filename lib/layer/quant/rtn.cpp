#include "layer/quant/rtn.hpp"

#include <numeric>

#include "core/checks.hpp"
#include "core/parallel.hpp"

namespace surgeon {

void quantize_rtn(const Context& ctx, MatView w, const QuantConfig& cfg, QuantResult* out,
                  const std::vector<int>* row_bits) {
    cfg.validate();
    require_finite(w.data, w.rows, w.cols, w.ld, "weight");
    if (row_bits) {
        require_shape(static_cast<int64_t>(row_bits->size()) == w.rows,
                      std::to_string(row_bits->size()) + " row widths for " + std::to_string(w.rows) + " rows");
        for (int b : *row_bits) require_arg(b >= 1 && b <= 8, "row width " + std::to_string(b) + " is outside 1..8");
    }
    const int64_t groups = cfg.groups(w.cols);
    const int64_t gsize = cfg.group_size > 0 ? cfg.group_size : w.cols;
    QuantResult res;
    res.rows = w.rows;
    res.cols = w.cols;
    res.groups = groups;
    res.bits = cfg.bits;
    if (row_bits) res.row_bits = *row_bits;
    res.codes.resize(static_cast<size_t>(w.rows * w.cols));
    res.scales.resize(static_cast<size_t>(w.rows * groups));
    res.zeros.resize(res.scales.size());
    res.g_idx.resize(static_cast<size_t>(w.cols));
    res.perm.resize(static_cast<size_t>(w.cols));
    std::iota(res.perm.begin(), res.perm.end(), 0);
    for (int64_t j = 0; j < w.cols; ++j) res.g_idx[j] = static_cast<int32_t>(j / gsize);

    parallel_for(ctx.effective_threads(), w.rows, [&](int64_t r0, int64_t r1, int) {
        for (int64_t r = r0; r < r1; ++r) {
            float* row = w.row(r);
            const int bits = row_bits ? (*row_bits)[static_cast<size_t>(r)] : cfg.bits;
            for (int64_t g = 0; g < groups; ++g) {
                const int64_t c0 = g * gsize, c1 = std::min(w.cols, c0 + gsize);
                const Grid grid = find_grid(row + c0, c1 - c0, bits, cfg);
                res.scales[r * groups + g] = grid.scale;
                res.zeros[r * groups + g] = grid.zero;
                for (int64_t j = c0; j < c1; ++j) {
                    const float code = quantize_code(row[j], grid);
                    res.codes[r * w.cols + j] = static_cast<uint8_t>(code);
                    row[j] = dequantize_code(code, grid);
                }
            }
        }
    });
    if (out) *out = std::move(res);
}

}  // namespace surgeon
