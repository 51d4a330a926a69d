#include "solver/obs_engine.hpp"

#include <algorithm>
#include <cmath>

#include "prune/mask.hpp"
#include "prune/select.hpp"

namespace surgeon {
namespace {

// SparseGPT's block-level selection: one threshold over all rows of the block, on the
// score w² / U_jj², computed from the block's weights before any in-block update.
void select_block_mask(const Matrix& w, const Matrix& u, int64_t i1, int64_t count,
                       const ObsPruneSpec& prune, std::vector<uint8_t>& keep) {
    const int64_t rows = w.rows;
    std::vector<float> scores(static_cast<size_t>(rows * count));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < count; ++i) {
            const float d = u(i1 + i, i1 + i);
            const float v = w(r, i1 + i);
            scores[r * count + i] = v * v / (d * d);
        }
    std::fill(keep.begin(), keep.end(), uint8_t{1});
    if (prune.scope == SURGEON_MASK_SCOPE_ROW) {
        const int64_t k = prune_count(count, prune.sparsity);
        for (int64_t r = 0; r < rows; ++r)
            prune_smallest(scores.data() + r * count, count, k, keep.data() + r * count);
    } else {
        prune_smallest(scores.data(), rows * count, prune_count(rows * count, prune.sparsity),
                       keep.data());
    }
}

}  // namespace

void run_obs(const Context& ctx, Backend& backend, Matrix& w, const Matrix& u, int64_t block,
             const ObsPruneSpec& prune, ObsQuantSpec& quant, ObsOutput& out,
             const char* stage) {
    const int64_t rows = w.rows, cols = w.cols;
    const bool quantize = quant.cfg != nullptr;
    const bool block_mask = prune.enabled && prune.n == 0 && prune.sparsity > 0.0;
    const bool nm = prune.enabled && prune.n > 0;
    const int64_t gsize = quantize ? quant.cfg->group_size : 0;
    if (prune.enabled) out.keep.assign(static_cast<size_t>(rows * cols), 1);
    if (quantize) out.codes.assign(static_cast<size_t>(rows * cols), 0);
    out.loss = 0.0;

    std::vector<float> err(static_cast<size_t>(rows * block));
    std::vector<uint8_t> keep_block(static_cast<size_t>(rows * block), 1);
    const int threads = ctx.effective_threads();

    for (int64_t i1 = 0; i1 < cols; i1 += block) {
        const int64_t i2 = std::min(cols, i1 + block), count = i2 - i1;
        if (block_mask) {
            keep_block.resize(static_cast<size_t>(rows * count));
            select_block_mask(w, u, i1, count, prune, keep_block);
        }
        double loss = 0.0;
#pragma omp parallel num_threads(threads) reduction(+ : loss)
        {
            std::vector<float> w1(static_cast<size_t>(count)), scores(static_cast<size_t>(count));
            std::vector<uint8_t> keep(static_cast<size_t>(count));
#pragma omp for schedule(static)
            for (int64_t r = 0; r < rows; ++r) {
                float* wrow = w.row(r);
                std::copy(wrow + i1, wrow + i2, w1.begin());
                if (block_mask)
                    std::copy(keep_block.begin() + r * count, keep_block.begin() + (r + 1) * count,
                              keep.begin());
                else
                    std::fill(keep.begin(), keep.end(), uint8_t{1});
                float* e = err.data() + r * count;
                Grid grid;
                for (int64_t i = 0; i < count; ++i) {
                    const int64_t col = i1 + i;
                    const float d = u(col, col);
                    if (nm && i % prune.m == 0) {
                        const int64_t len = std::min<int64_t>(prune.m, count - i);
                        for (int64_t k = 0; k < len; ++k) {
                            const float dk = u(col + k, col + k);
                            scores[k] = w1[i + k] * w1[i + k] / (dk * dk);
                        }
                        prune_n_of_m(scores.data(), len, prune.n, prune.m, keep.data() + i);
                    }
                    const float wv = w1[i];
                    float q = keep[i] ? wv : 0.0f;
                    if (quantize) {
                        const int64_t g = quant.group_of_col[col];
                        Grid& slot = quant.grids[r * quant.groups + g];
                        // Dynamic groups take their grid from the weights as they stand
                        // when the block starts (the reference's behaviour).
                        if (quant.dynamic_groups && col % gsize == 0)
                            slot = find_grid(wrow + col, std::min(gsize, cols - col),
                                             quant.bits_of_row(r), *quant.cfg);
                        grid = slot;
                        const float code = quantize_code(q, grid);
                        out.codes[r * cols + col] = static_cast<uint8_t>(code);
                        q = dequantize_code(code, grid);
                    }
                    const float diff = wv - q;
                    loss += static_cast<double>(diff) * diff / (static_cast<double>(d) * d);
                    const float ei = diff / d;
                    e[i] = ei;
                    w1[i] = q;
                    const float* urow = u.row(col);
                    for (int64_t j = i + 1; j < count; ++j) w1[j] -= ei * urow[i1 + j];
                }
                std::copy(w1.begin(), w1.end(), wrow + i1);
                if (prune.enabled)
                    std::copy(keep.begin(), keep.end(), out.keep.begin() + r * cols + i1);
            }
        }
        out.loss += loss / 2.0;
        if (i2 < cols)
            backend.gemm(rows, cols - i2, count, -1.0f, err.data(), count, u.row(i1) + i2, cols,
                         1.0f, w.row(0) + i2, cols);
        ctx.progress(stage, static_cast<double>(i2) / static_cast<double>(cols));
    }
}

}  // namespace surgeon
