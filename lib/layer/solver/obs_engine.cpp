#include "layer/solver/obs_engine.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "core/barrier.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "layer/prune/mask.hpp"
#include "layer/prune/select.hpp"

namespace surgeon {
namespace {

// Per-worker scratch for one block of columns of one row.
struct RowScratch {
    std::vector<float> w1, scores;
    std::vector<uint8_t> keep;
    explicit RowScratch(int64_t block)
        : w1(static_cast<size_t>(block)), scores(static_cast<size_t>(block)),
          keep(static_cast<size_t>(block)) {}
};

class ObsRun {
public:
    ObsRun(Backend& backend, Matrix& w, const Matrix& u, int64_t block, const ObsPruneSpec& prune,
           ObsQuantSpec& quant, ObsOutput& out)
        : backend_(backend), w_(w), u_(u), block_(block), prune_(prune), quant_(quant), out_(out),
          rows_(w.rows), cols_(w.cols),
          block_mask_(prune.enabled && prune.n == 0 && prune.sparsity > 0.0),
          nm_(prune.enabled && prune.n > 0),
          err_(static_cast<size_t>(w.rows * block)),
          scores_(block_mask_ ? static_cast<size_t>(w.rows * block) : 0),
          keep_block_(block_mask_ ? static_cast<size_t>(w.rows * block) : 0, 1) {}

    // Block-scope masks: each worker scores its rows, one worker selects over all rows.
    void score_block(int64_t r0, int64_t r1, int64_t i1, int64_t count) {
        for (int64_t r = r0; r < r1; ++r)
            for (int64_t i = 0; i < count; ++i) {
                const float d = u_(i1 + i, i1 + i);
                const float v = w_(r, i1 + i);
                scores_[r * count + i] = v * v / (d * d);
            }
    }

    void select_block(int64_t count, int threads) {
        std::fill(keep_block_.begin(), keep_block_.begin() + rows_ * count, uint8_t{1});
        if (prune_.scope == SURGEON_MASK_SCOPE_ROW) {
            const int64_t k = prune_count(count, prune_.sparsity);
            for (int64_t r = 0; r < rows_; ++r)
                prune_smallest(scores_.data() + r * count, count, k, keep_block_.data() + r * count);
        } else {
            prune_smallest(scores_.data(), rows_ * count, prune_count(rows_ * count, prune_.sparsity),
                           keep_block_.data(), threads);
        }
    }

    // The sequential OBS updates of one row inside a block, on a cache-resident copy.
    double process_row(int64_t r, int64_t i1, int64_t count, RowScratch& s) {
        float* wrow = w_.row(r);
        auto& w1 = s.w1;
        auto& keep = s.keep;
        std::copy(wrow + i1, wrow + i1 + count, w1.begin());
        if (block_mask_)
            std::copy(keep_block_.begin() + r * count, keep_block_.begin() + (r + 1) * count,
                      keep.begin());
        else
            std::fill(keep.begin(), keep.begin() + count, uint8_t{1});
        float* e = err_.data() + r * block_;
        const bool quantize = quant_.cfg != nullptr;
        const int64_t gsize = quantize ? quant_.cfg->group_size : 0;
        double loss = 0.0;
        for (int64_t i = 0; i < count; ++i) {
            const int64_t col = i1 + i;
            const float d = u_(col, col);
            if (nm_ && i % prune_.m == 0) {
                const int64_t len = std::min<int64_t>(prune_.m, count - i);
                for (int64_t k = 0; k < len; ++k) {
                    const float dk = u_(col + k, col + k);
                    s.scores[k] = w1[i + k] * w1[i + k] / (dk * dk);
                }
                prune_n_of_m(s.scores.data(), len, prune_.n, prune_.m, keep.data() + i);
            }
            const float wv = w1[i];
            float q = keep[i] ? wv : 0.0f;
            if (quantize) {
                Grid& grid = quant_.grids[r * quant_.groups + quant_.group_of_col[col]];
                // Dynamic groups take their grid from the weights as they stand when the
                // block starts (the reference's behaviour).
                if (quant_.dynamic_groups && col % gsize == 0)
                    grid = find_grid(wrow + col, std::min(gsize, cols_ - col), quant_.bits_of_row(r),
                                     *quant_.cfg);
                const float code = quantize_code(q, grid);
                out_.codes[r * cols_ + col] = static_cast<uint8_t>(code);
                q = dequantize_code(code, grid);
            }
            const float diff = wv - q;
            loss += static_cast<double>(diff) * diff / (static_cast<double>(d) * d);
            const float ei = diff / d;
            e[i] = ei;
            w1[i] = q;
            const float* urow = u_.row(col) + i1;
            for (int64_t j = i + 1; j < count; ++j) w1[j] -= ei * urow[j];
        }
        std::copy(w1.begin(), w1.begin() + count, wrow + i1);
        if (!std::isfinite(loss)) non_finite_ = true;
        if (prune_.enabled) std::copy(keep.begin(), keep.begin() + count, out_.keep.begin() + r * cols_ + i1);
        return loss;
    }

    // Lazy update of the columns right of the block for rows [r0, r1): one GEMM.
    void lazy_update(int64_t r0, int64_t r1, int64_t i1, int64_t count) {
        const int64_t i2 = i1 + count;
        if (i2 >= cols_ || r1 <= r0) return;
        backend_.gemm(r1 - r0, cols_ - i2, count, -1.0f, err_.data() + r0 * block_, block_,
                      u_.row(i1) + i2, cols_, 1.0f, w_.row(r0) + i2, cols_);
    }

    bool block_mask() const { return block_mask_; }
    bool non_finite() const { return non_finite_; }
    int64_t rows() const { return rows_; }
    int64_t cols() const { return cols_; }

private:
    Backend& backend_;
    Matrix& w_;
    const Matrix& u_;
    int64_t block_;
    const ObsPruneSpec& prune_;
    ObsQuantSpec& quant_;
    ObsOutput& out_;
    int64_t rows_, cols_;
    bool block_mask_, nm_;
    std::atomic<bool> non_finite_{false};
    // rows × block: (w − q) / U_jj of the current block. The stride stays `block` even for
    // a shorter last block: a worker already there must not overwrite rows still in use.
    std::vector<float> err_;
    std::vector<float> scores_;     // rows × count (block-scope masks)
    std::vector<uint8_t> keep_block_;
};

}  // namespace

// Rows are split among workers once. A row's updates never depend on other rows, so each
// worker runs every block for its rows — in-block updates, then its share of the lazy
// update as a GEMM on the single-threaded backend — and workers meet only where SparseGPT
// picks one threshold over a whole block.
void run_obs(const Context& ctx, Backend& backend, Matrix& w, const Matrix& u, int64_t block,
             const ObsPruneSpec& prune, ObsQuantSpec& quant, ObsOutput& out,
             const char* stage) {
    const int64_t rows = w.rows, cols = w.cols;
    require_arg(block >= 1, "block_size must be >= 1, got " + std::to_string(block));
    // Scratch is rows × block: a block wider than the matrix would only waste memory.
    block = std::min(block, std::max<int64_t>(cols, 1));
    if (prune.enabled) out.keep.assign(static_cast<size_t>(rows * cols), 1);
    if (quant.cfg) out.codes.assign(static_cast<size_t>(rows * cols), 0);
    out.loss = 0.0;

    const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(backend.threads(), rows)));
    ObsRun run(workers == 1 ? backend : backend.single_threaded(), w, u, block, prune, quant, out);
    Barrier barrier(workers);
    std::vector<double> worker_loss(static_cast<size_t>(workers), 0.0);
    std::vector<RowScratch> scratch(static_cast<size_t>(workers), RowScratch(block));

    parallel_for(workers, rows, [&](int64_t r0, int64_t r1, int worker) {
        RowScratch& s = scratch[static_cast<size_t>(worker)];
        double loss = 0.0;
        for (int64_t i1 = 0; i1 < cols; i1 += block) {
            const int64_t count = std::min(block, cols - i1);
            if (run.block_mask()) {
                run.score_block(r0, r1, i1, count);
                barrier.arrive_and_wait();
                // The other workers block (no spinning) while worker 0 selects on fresh
                // threads.
                if (worker == 0) run.select_block(count, workers);
                barrier.arrive_and_wait();
            }
            for (int64_t r = r0; r < r1; ++r) loss += run.process_row(r, i1, count, s);
            run.lazy_update(r0, r1, i1, count);
            // Worker 0 runs on the calling thread, where callbacks belong.
            if (worker == 0) ctx.progress(stage, static_cast<double>(i1 + count) / static_cast<double>(cols));
        }
        worker_loss[static_cast<size_t>(worker)] = loss / 2.0;
    });
    for (double l : worker_loss) out.loss += l;
    out.finite = !run.non_finite() && std::isfinite(out.loss);
}

}  // namespace surgeon
