// Running Hessian H = 2/n · Σ xᵀx of a linear layer's inputs, with per-column activation
// statistics. The upper triangle of S = Σ xᵀx is accumulated with SYRK; H is formed on
// demand, so merging two accumulators is an exact sum.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "core/matrix.hpp"

namespace surgeon {

struct ColumnStats {
    std::vector<double> sum_abs, sum, sum_sq;  // per column, over all rows added
};

// The raw state of an accumulator, what merge adds: the upper triangle of S = Σ xᵀx row by
// row (cols·(cols+1)/2 floats, not scaled by 2/n), the column sums and the row count.
struct HessianState {
    int64_t cols = 0;
    int64_t samples = 0;
    std::vector<float> upper;
    ColumnStats stats;
};

class Hessian {
public:
    // The widest accumulator (a cols × cols float matrix: 4 TiB at this size); wider is
    // SURGEON_ERR_INVALID_ARGUMENT, as is cols < 1.
    static constexpr int64_t kMaxCols = int64_t{1} << 20;

    Hessian(ContextPtr ctx, int64_t cols);

    int64_t cols() const { return cols_; }
    int64_t samples() const;
    const ContextPtr& context() const { return ctx_; }

    // x: rows × cols with leading dimension ld (validated, must be finite). Thread-safe.
    void add(const float* x, int64_t rows, int64_t ld);
    void add_f16(const uint16_t* x, int64_t rows, int64_t ld);
    void add_bf16(const uint16_t* x, int64_t rows, int64_t ld);
    void merge(const Hessian& other);

    // Sets a finished Hessian H (cols × cols) computed from `samples` rows.
    void assign_matrix(const float* h, int64_t ld, int64_t samples);

    Matrix matrix() const;  // full symmetric H (zero when empty)
    std::vector<float> diagonal() const;
    // Per-column mean |x|, mean x and mean x² (any pointer may be null).
    void stats(float* abs_mean, float* mean, float* sq_mean) const;

    HessianState state() const;
    // state() without forming it: fn(value) for each entry of its upper triangle in order,
    // and its column sums.
    template <typename Fn>
    void for_each_upper(Fn&& fn) const {
        std::lock_guard<std::mutex> lock(mutex_);
        for (int64_t i = 0; i < cols_; ++i)
            for (int64_t j = i; j < cols_; ++j) fn(sum_xx_[static_cast<size_t>(i * cols_ + j)]);
    }
    ColumnStats column_sums() const;
    // An accumulator holding `state`, checked as a loaded file is (`what` names it in
    // messages): SURGEON_ERR_INVALID_ARGUMENT for cols out of range, negative samples or
    // arrays of the wrong length, SURGEON_ERR_NUMERIC for NaN/Inf, a negative diagonal or
    // negative Σ|x| / Σx².
    static std::unique_ptr<Hessian> from_state(ContextPtr ctx, const HessianState& state, const std::string& what);

    void save(const std::string& path) const;
    static std::unique_ptr<Hessian> load(ContextPtr ctx, const std::string& path);

private:
    template <typename Convert>
    void add_converted(const uint16_t* x, int64_t rows, int64_t ld, Convert convert);
    void add_locked(const float* x, int64_t rows, int64_t ld);

    ContextPtr ctx_;
    int64_t cols_;
    mutable std::mutex mutex_;
    int64_t samples_ = 0;
    std::vector<float> sum_xx_;  // cols × cols, upper triangle valid
    ColumnStats stats_;
};

}  // namespace surgeon
