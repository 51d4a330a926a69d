#include "compress/lora_rounding.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"

namespace surgeon::model {
namespace {

constexpr double kZeta = 1.1, kGamma = -0.1;  // AdaRound's stretch of the sigmoid

double sigmoid(float v) { return 1.0 / (1.0 + std::exp(-static_cast<double>(v))); }

// h(V) = clamp(σ(V)·(ζ − γ) + γ, 0, 1).
float rect_sigmoid(float v) { return static_cast<float>(std::clamp(sigmoid(v) * (kZeta - kGamma) + kGamma, 0.0, 1.0)); }

// (ζ − γ)·σ'(V) without the clamp: the straight-through gradient of [V > 0].
float sigmoid_slope(float v) {
    const double s = sigmoid(v);
    return static_cast<float>(s * (1.0 - s) * (kZeta - kGamma));
}

// dh/dV: the slope where h is strictly inside (0, 1), else 0.
float rect_sigmoid_grad(float v) {
    const double h = sigmoid(v) * (kZeta - kGamma) + kGamma;
    return h <= 0.0 || h >= 1.0 ? 0.0f : sigmoid_slope(v);
}

// V with h(V) = f, f in [0, 1): σ(V) = (f − γ)/(ζ − γ).
float rect_sigmoid_inverse(float f) {
    const double p = (static_cast<double>(f) - kGamma) / (kZeta - kGamma);
    return static_cast<float>(std::log(p / (1.0 - p)));
}

// A standard normal from the generator's own 64-bit draws (Box–Muller), so the values
// do not depend on the standard library's distributions.
double normal(std::mt19937_64& rng) {
    const double u1 = (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53;
    const double u2 = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace

void LoraRounding::Adam::step(std::vector<float>& p, const std::vector<float>& g, double lr, int64_t t) {
    if (m.size() != p.size()) {
        m.assign(p.size(), 0.0f);
        v.assign(p.size(), 0.0f);
    }
    const double c1 = 1.0 - std::pow(0.9, static_cast<double>(t)), c2 = 1.0 - std::pow(0.999, static_cast<double>(t));
    for (size_t i = 0; i < p.size(); ++i) {
        m[i] = 0.9f * m[i] + 0.1f * g[i];
        v[i] = 0.999f * v[i] + 0.001f * g[i] * g[i];
        p[i] -= static_cast<float>(lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + 1e-8));
    }
}

LoraRounding::LoraRounding(const Matrix& w, const QuantConfig& cfg, int64_t rank, Mode mode, std::mt19937_64& rng)
    : rows_(w.rows), cols_(w.cols), rank_(rank), bits_(cfg.bits), mode_(mode) {
    cfg.validate();
    require_arg(cfg.kind == GridKind::affine && !cfg.act_order, "LoRA-rounding learns affine grids without act-order");
    require_arg(rank >= 1, "LoRA-rounding rank must be positive");
    groups_ = cfg.groups(w.cols);
    gsize_ = cfg.group_size > 0 ? std::min(cfg.group_size, w.cols) : w.cols;
    maxq_ = (1 << cfg.bits) - 1;
    const size_t n = static_cast<size_t>(w.rows * w.cols), ng = static_cast<size_t>(w.rows * groups_);
    base_.resize(n);
    v0_.resize(n);
    s0_.resize(ng);
    zero_.resize(ng);
    u_.assign(ng, 0.0f);
    if (mode == Mode::nearest) hard_.resize(n);
    for (int64_t r = 0; r < w.rows; ++r)
        for (int64_t g = 0; g < groups_; ++g) {
            const int64_t c0 = g * gsize_, c1 = std::min(w.cols, c0 + gsize_);
            const Grid grid = find_grid(w.row(r) + c0, c1 - c0, cfg.bits, cfg);
            s0_[static_cast<size_t>(r * groups_ + g)] = grid.scale;
            zero_[static_cast<size_t>(r * groups_ + g)] = grid.zero;
            for (int64_t j = c0; j < c1; ++j) {
                const size_t i = static_cast<size_t>(r * w.cols + j);
                const float x = w.row(r)[j] / grid.scale;
                base_[i] = std::floor(x);
                v0_[i] = rect_sigmoid_inverse(std::clamp(x - base_[i], 0.0f, 1.0f - 1e-6f));
                if (mode == Mode::nearest) hard_[i] = round_half_even(x) - base_[i];
            }
        }
    if (mode != Mode::nearest) {
        a1_.resize(static_cast<size_t>(w.rows * rank));
        for (float& a : a1_) a = static_cast<float>(normal(rng) / std::sqrt(static_cast<double>(rank)));
        a2_.assign(static_cast<size_t>(rank * w.cols), 0.0f);
    }
}

Matrix LoraRounding::weights(Backend& be) {
    const size_t n = base_.size();
    const bool learned = hard_.empty();
    std::vector<float> h;
    if (learned) {
        v_ = v0_;
        be.gemm(Trans::no, Trans::no, rows_, cols_, rank_, 1.0f, a1_.data(), rank_, a2_.data(), cols_, 1.0f, v_.data(),
                cols_);
        h.resize(n);
        for (size_t i = 0; i < n; ++i) h[i] = mode_ == Mode::soft ? rect_sigmoid(v_[i]) : (v_[i] > 0.0f ? 1.0f : 0.0f);
    }
    const std::vector<float>& offsets = learned ? h : hard_;
    Matrix w(rows_, cols_);
    for (int64_t r = 0; r < rows_; ++r)
        for (int64_t j = 0; j < cols_; ++j) {
            const size_t i = static_cast<size_t>(r * cols_ + j), g = group_of(r, j);
            const float code = std::clamp(base_[i] + offsets[i] + zero_[g], 0.0f, static_cast<float>(maxq_));
            w.row(r)[j] = s0_[g] * std::exp(u_[g]) * (code - zero_[g]);
        }
    return w;
}

LoraRounding::Gradients LoraRounding::gradients(Backend& be, const Matrix& dw, double reg_weight, double beta) const {
    require_shape(dw.rows == rows_ && dw.cols == cols_, "LoRA-rounding gradient has the wrong shape");
    const size_t n = base_.size();
    const bool learned = hard_.empty();
    require(!learned || v_.size() == n, SURGEON_ERR_INTERNAL, "LoRA-rounding gradients() before weights()");
    Gradients out;
    out.u.assign(u_.size(), 0.0f);
    std::vector<float> dv(learned ? n : 0, 0.0f);
    for (int64_t r = 0; r < rows_; ++r)
        for (int64_t j = 0; j < cols_; ++j) {
            const size_t i = static_cast<size_t>(r * cols_ + j), g = group_of(r, j);
            const float h = learned ? (mode_ == Mode::soft ? rect_sigmoid(v_[i]) : (v_[i] > 0.0f ? 1.0f : 0.0f)) : hard_[i];
            const float raw = base_[i] + h + zero_[g];
            const float code = std::clamp(raw, 0.0f, static_cast<float>(maxq_));
            const float s = s0_[g] * std::exp(u_[g]), gw = dw.row(r)[j];
            out.u[g] += gw * s * (code - zero_[g]);  // dŴ/du = s·(code − z)
            if (learned && raw > 0.0f && raw < static_cast<float>(maxq_))
                dv[i] = gw * s * (mode_ == Mode::soft ? rect_sigmoid_grad(v_[i]) : sigmoid_slope(v_[i]));
        }
    if (!learned) return out;
    if (reg_weight > 0.0) {
        double sum = 0.0;
        const double scale = reg_weight / static_cast<double>(n);
        for (size_t i = 0; i < n; ++i) {
            const double d = 2.0 * rect_sigmoid(v_[i]) - 1.0, a = std::fabs(d);
            sum += 1.0 - std::pow(a, beta);
            if (a > 0.0)
                dv[i] += static_cast<float>(-scale * beta * std::pow(a, beta - 1.0) * (d > 0 ? 2.0 : -2.0) *
                                            rect_sigmoid_grad(v_[i]));
        }
        out.penalty = scale * sum;
    }
    out.a1.resize(a1_.size());
    out.a2.resize(a2_.size());
    be.gemm(Trans::no, Trans::yes, rows_, rank_, cols_, 1.0f, dv.data(), cols_, a2_.data(), cols_, 0.0f, out.a1.data(),
            rank_);
    be.gemm(Trans::yes, Trans::no, rank_, cols_, rows_, 1.0f, a1_.data(), rank_, dv.data(), cols_, 0.0f, out.a2.data(),
            cols_);
    return out;
}

void LoraRounding::step(const Gradients& g, double lr, double scale_lr, int64_t t) {
    if (hard_.empty()) {
        adam_a1_.step(a1_, g.a1, lr, t);
        adam_a2_.step(a2_, g.a2, lr, t);
    }
    adam_u_.step(u_, g.u, scale_lr, t);
}

void LoraRounding::reset_optimizer() { adam_a1_ = adam_a2_ = adam_u_ = Adam{}; }

void LoraRounding::harden(Backend& be) {
    if (!hard_.empty()) return;
    (void)weights(be);
    hard_.resize(base_.size());
    for (size_t i = 0; i < hard_.size(); ++i) hard_[i] = v_[i] > 0.0f ? 1.0f : 0.0f;
    a1_.clear();
    a2_.clear();
    v_.clear();
}

QuantResult LoraRounding::codes() const {
    require(!hard_.empty(), SURGEON_ERR_INTERNAL, "LoRA-rounding codes() before harden()");
    QuantResult r;
    r.rows = rows_;
    r.cols = cols_;
    r.groups = groups_;
    r.bits = bits_;
    r.codes.resize(base_.size());
    r.scales.resize(s0_.size());
    r.zeros = zero_;
    for (size_t g = 0; g < s0_.size(); ++g) r.scales[g] = s0_[g] * std::exp(u_[g]);
    for (int64_t i = 0; i < rows_; ++i)
        for (int64_t j = 0; j < cols_; ++j) {
            const size_t k = static_cast<size_t>(i * cols_ + j);
            r.codes[k] = static_cast<uint8_t>(
                std::clamp(base_[k] + hard_[k] + zero_[group_of(i, j)], 0.0f, static_cast<float>(maxq_)));
        }
    r.g_idx.resize(static_cast<size_t>(cols_));
    r.perm.resize(static_cast<size_t>(cols_));
    std::iota(r.perm.begin(), r.perm.end(), 0);
    for (int64_t j = 0; j < cols_; ++j) r.g_idx[static_cast<size_t>(j)] = static_cast<int32_t>(j / gsize_);
    return r;
}

}  // namespace surgeon::model
