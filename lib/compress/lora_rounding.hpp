// LoRA-rounding of one weight matrix (CBQ, compress/cbq.hpp): learned rounding offsets
// from a low-rank matrix and learned step sizes on an affine grid.
//
// W (rows × cols) is quantized per (row, group of columns) with the affine grid of the
// QuantConfig (find_grid): step s₀ and zero point z. The integer base B = ⌊W/s₀⌋ is fixed;
// the rounding offset of every weight is h(V) = clamp(σ(V)·(ζ − γ) + γ, 0, 1) (AdaRound,
// ζ = 1.1, γ = −0.1) with
//     V = V₀ + A₁·A₂,   A₁ rows × r, A₂ r × cols (learned),
// V₀ fixed with h(V₀) = W/s₀ − B, so the soft weights start at W and [V₀ > 0] is rounding
// to nearest. The step sizes are s = s₀·e^u with u learned per (row, group). The weight is
//     Ŵ = s·(clamp(B + h + z, 0, 2^bits − 1) − z).
// The forward pass uses the hard offsets [V > 0] with straight-through gradients
// (dh/dV = (ζ − γ)·σ'(V)), or the soft h(V) (Mode::soft). The regularizer
// weight·mean(1 − |2h(V) − 1|^β) (AdaRound) acts on the soft offsets in both modes.
// Without learned rounding (Mode::nearest) h is rounding to nearest and only u is learned.
// harden() fixes h at [V > 0]; codes() gives the integer codes for the exporters.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "core/backend.hpp"
#include "core/matrix.hpp"
#include "layer/quant/quantizer.hpp"

namespace surgeon::model {

class LoraRounding {
public:
    enum class Mode { straight_through, soft, nearest };

    // `w` is read once; `rng` draws A₁ ~ N(0, 1/r) (A₂ starts at 0). cfg must be an
    // affine grid without act-order (SURGEON_ERR_INVALID_ARGUMENT otherwise).
    LoraRounding(const Matrix& w, const QuantConfig& cfg, int64_t rank, Mode mode, std::mt19937_64& rng);

    // Ŵ for the current parameters (caches V for gradients()).
    Matrix weights(Backend& be);

    struct Gradients {
        std::vector<float> a1, a2, u;
        double penalty = 0.0;  // value of the regularizer
    };
    // Gradients of ⟨dw, Ŵ⟩ + reg_weight·mean(1 − |2h(V) − 1|^β) at the parameters of the last
    // weights() call. reg_weight 0 leaves the regularizer out.
    Gradients gradients(Backend& be, const Matrix& dw, double reg_weight, double beta) const;

    // One Adam step (β₁ 0.9, β₂ 0.999, ε 1e-8; t counts from 1 since reset_optimizer).
    void step(const Gradients& g, double lr, double scale_lr, int64_t t);
    void reset_optimizer();

    // Fixes the offsets at [V > 0] (no-op when already hard); weights() then ignores A₁, A₂.
    void harden(Backend& be);
    bool hard() const { return !hard_.empty(); }
    // The integer codes, scales and zeros of Ŵ (after harden()).
    QuantResult codes() const;

    int64_t rows() const { return rows_; }
    int64_t cols() const { return cols_; }
    // The learned parameters (tests perturb them).
    std::vector<float>& a1() { return a1_; }
    std::vector<float>& a2() { return a2_; }
    std::vector<float>& u() { return u_; }

private:
    struct Adam {
        std::vector<float> m, v;
        void step(std::vector<float>& p, const std::vector<float>& g, double lr, int64_t t);
    };
    size_t group_of(int64_t r, int64_t j) const { return static_cast<size_t>(r * groups_ + j / gsize_); }

    int64_t rows_ = 0, cols_ = 0, groups_ = 0, gsize_ = 0, rank_ = 0;
    int bits_ = 0, maxq_ = 0;
    Mode mode_ = Mode::straight_through;
    std::vector<float> base_, v0_;  // rows × cols
    std::vector<float> s0_, zero_;  // rows × groups
    std::vector<float> u_;          // rows × groups
    std::vector<float> a1_, a2_;    // rows × rank, rank × cols
    std::vector<float> hard_;       // rows × cols offsets in {0, 1} once fixed
    std::vector<float> v_;          // V of the last weights() call
    Adam adam_a1_, adam_a2_, adam_u_;
};

}  // namespace surgeon::model
