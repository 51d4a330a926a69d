#include "layer/hessian/hessian.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/backend.hpp"
#include "core/checks.hpp"
#include "core/half.hpp"
#include "layer/hessian/hessian_file.hpp"

namespace surgeon {

Hessian::Hessian(ContextPtr ctx, int64_t cols)
    : ctx_(std::move(ctx)), cols_(cols) {
    require_arg(cols >= 1 && cols <= kMaxCols, "cols must be in [1, " + std::to_string(kMaxCols) + "], got " +
                                                   std::to_string(cols));
    sum_xx_.assign(static_cast<size_t>(cols) * static_cast<size_t>(cols), 0.0f);
    stats_.sum_abs.assign(static_cast<size_t>(cols), 0.0);
    stats_.sum.assign(static_cast<size_t>(cols), 0.0);
    stats_.sum_sq.assign(static_cast<size_t>(cols), 0.0);
}

int64_t Hessian::samples() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return samples_;
}

void Hessian::add(const float* x, int64_t rows, int64_t ld) {
    require_arg(rows >= 0, "rows must be >= 0, got " + std::to_string(rows));
    if (rows == 0) return;
    require_not_null(x, "x");
    require_finite(x, rows, cols_, ld, "x");
    add_locked(x, rows, ld);
}

// The statistics are computed outside the lock; only the accumulation is serialized (the
// SYRK itself already runs on every thread of the context).
void Hessian::add_locked(const float* x, int64_t rows, int64_t ld) {
    std::vector<double> sum_abs(static_cast<size_t>(cols_), 0.0), sum(sum_abs), sum_sq(sum_abs);
    for (int64_t r = 0; r < rows; ++r) {
        const float* p = x + r * ld;
        for (int64_t c = 0; c < cols_; ++c) {
            const double v = p[c];
            sum_abs[c] += std::fabs(v);
            sum[c] += v;
            sum_sq[c] += v * v;
        }
    }
    // The thread count is process-wide OpenBLAS state: set and restore it under the lock
    // so concurrent adds on this accumulator cannot interleave their save/restore pairs.
    std::lock_guard<std::mutex> lock(mutex_);
    backend_for(*ctx_).syrk_upper(x, rows, cols_, ld, 1.0f, sum_xx_.data());
    for (int64_t c = 0; c < cols_; ++c) {
        stats_.sum_abs[c] += sum_abs[c];
        stats_.sum[c] += sum[c];
        stats_.sum_sq[c] += sum_sq[c];
    }
    samples_ += rows;
}

template <typename Convert>
void Hessian::add_converted(const uint16_t* x, int64_t rows, int64_t ld, Convert convert) {
    require_arg(rows >= 0, "rows must be >= 0, got " + std::to_string(rows));
    if (rows == 0) return;
    require_not_null(x, "x");
    // Validate everything before accumulating anything, so a bad row leaves H unchanged.
    std::vector<float> all(static_cast<size_t>(rows * cols_));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols_; ++c) all[r * cols_ + c] = convert(x[r * ld + c]);
    require_finite(all.data(), rows, cols_, cols_, "x");
    add_locked(all.data(), rows, cols_);
}

void Hessian::add_f16(const uint16_t* x, int64_t rows, int64_t ld) {
    add_converted(x, rows, ld, f16_to_float);
}

void Hessian::add_bf16(const uint16_t* x, int64_t rows, int64_t ld) {
    add_converted(x, rows, ld, bf16_to_float);
}

void Hessian::merge(const Hessian& other) {
    require_arg(&other != this, "cannot merge an accumulator into itself");
    require_shape(other.cols_ == cols_, "cols differ: " + std::to_string(cols_) + " vs " +
                                            std::to_string(other.cols_));
    // Copy the source under its own lock first: never hold two locks at once.
    std::vector<float> sxx;
    ColumnStats st;
    int64_t n;
    {
        std::lock_guard<std::mutex> lock(other.mutex_);
        sxx = other.sum_xx_;
        st = other.stats_;
        n = other.samples_;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < sxx.size(); ++i) sum_xx_[i] += sxx[i];
    for (int64_t c = 0; c < cols_; ++c) {
        stats_.sum_abs[c] += st.sum_abs[c];
        stats_.sum[c] += st.sum[c];
        stats_.sum_sq[c] += st.sum_sq[c];
    }
    samples_ += n;
}

void Hessian::assign_matrix(const float* h, int64_t ld, int64_t samples) {
    require_not_null(h, "hessian");
    require_arg(samples >= 1, "samples must be >= 1, got " + std::to_string(samples));
    require_finite(h, cols_, cols_, ld, "hessian");
    const double scale = static_cast<double>(samples) / 2.0;
    // An xᵀx-shaped matrix has a non-negative diagonal, and the accumulator holds
    // H · samples / 2 as floats: both are checked before anything is assigned.
    for (int64_t i = 0; i < cols_; ++i) {
        require(h[i * ld + i] >= 0.0f, SURGEON_ERR_NUMERIC,
                "hessian diagonal entry " + std::to_string(i) + " is negative (" +
                    std::to_string(h[i * ld + i]) + "): not a Hessian");
        for (int64_t j = i; j < cols_; ++j)
            require(std::isfinite(static_cast<float>(h[i * ld + j] * scale)), SURGEON_ERR_NUMERIC,
                    "hessian entry (" + std::to_string(i) + ", " + std::to_string(j) + ") times samples / 2 = " +
                        std::to_string(samples) + " / 2 overflows a float");
    }
    std::lock_guard<std::mutex> lock(mutex_);
    for (int64_t i = 0; i < cols_; ++i) {
        for (int64_t j = i; j < cols_; ++j)
            sum_xx_[i * cols_ + j] = static_cast<float>(h[i * ld + j] * scale);
        stats_.sum_abs[i] = 0.0;
        stats_.sum[i] = 0.0;
        stats_.sum_sq[i] = h[i * ld + i] * scale;
    }
    samples_ = samples;
}

Matrix Hessian::matrix() const {
    Matrix h(cols_, cols_);
    std::lock_guard<std::mutex> lock(mutex_);
    if (samples_ == 0) return h;
    const float scale = static_cast<float>(2.0 / static_cast<double>(samples_));
    for (int64_t i = 0; i < cols_; ++i)
        for (int64_t j = i; j < cols_; ++j) h(i, j) = sum_xx_[i * cols_ + j] * scale;
    mirror_upper(h);
    return h;
}

std::vector<float> Hessian::diagonal() const {
    std::vector<float> d(static_cast<size_t>(cols_), 0.0f);
    std::lock_guard<std::mutex> lock(mutex_);
    if (samples_ == 0) return d;
    const float scale = static_cast<float>(2.0 / static_cast<double>(samples_));
    for (int64_t i = 0; i < cols_; ++i) d[i] = sum_xx_[i * cols_ + i] * scale;
    return d;
}

void Hessian::stats(float* abs_mean, float* mean, float* sq_mean) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const double inv = samples_ ? 1.0 / static_cast<double>(samples_) : 0.0;
    for (int64_t c = 0; c < cols_; ++c) {
        if (abs_mean) abs_mean[c] = static_cast<float>(stats_.sum_abs[c] * inv);
        if (mean) mean[c] = static_cast<float>(stats_.sum[c] * inv);
        if (sq_mean) sq_mean[c] = static_cast<float>(stats_.sum_sq[c] * inv);
    }
}

HessianState Hessian::state() const {
    HessianState s;
    std::lock_guard<std::mutex> lock(mutex_);
    s.cols = cols_;
    s.samples = samples_;
    s.upper.reserve(static_cast<size_t>(cols_ * (cols_ + 1) / 2));
    for (int64_t i = 0; i < cols_; ++i)
        for (int64_t j = i; j < cols_; ++j) s.upper.push_back(sum_xx_[i * cols_ + j]);
    s.stats = stats_;
    return s;
}

ColumnStats Hessian::column_sums() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
}

std::unique_ptr<Hessian> Hessian::from_state(ContextPtr ctx, const HessianState& s, const std::string& what) {
    require_arg(s.samples >= 0, what + ": samples must be >= 0, got " + std::to_string(s.samples));
    auto hp = std::make_unique<Hessian>(std::move(ctx), s.cols);  // checks cols
    const auto c = static_cast<size_t>(s.cols);
    require_arg(s.upper.size() == c * (c + 1) / 2 && s.stats.sum_abs.size() == c && s.stats.sum.size() == c &&
                    s.stats.sum_sq.size() == c,
                what + ": the arrays do not match cols " + std::to_string(s.cols));
    check_hessian_values(s, what);
    Hessian& h = *hp;
    size_t k = 0;
    for (int64_t i = 0; i < s.cols; ++i)
        for (int64_t j = i; j < s.cols; ++j) h.sum_xx_[i * s.cols + j] = s.upper[k++];
    h.stats_ = s.stats;
    h.samples_ = s.samples;
    return hp;
}

void Hessian::save(const std::string& path) const { write_hessian_file(path, state()); }

std::unique_ptr<Hessian> Hessian::load(ContextPtr ctx, const std::string& path) {
    return from_state(std::move(ctx), read_hessian_file(path), path);
}

}  // namespace surgeon
