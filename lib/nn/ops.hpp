// The numeric building blocks of a Llama block, shared by the forward pass and its
// backward (nn/backward.cpp), so both compute exactly the same function.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.hpp"
#include "core/matrix.hpp"
#include "nn/model.hpp"

namespace surgeon::model::ops {

// y (T × w.rows, ldy) = beta · y + x (T × w.cols, ldx) · wᵀ: a linear layer on T rows.
void apply_linear(Backend& be, const float* x, int64_t T, int64_t ldx, const Matrix& w, float* y,
                  int64_t ldy, float beta = 0.0f);
Matrix apply_linear(Backend& be, const Matrix& x, const Matrix& w);

// Adds bias[j] to column j of every row of y (nothing when bias is empty).
void add_bias(Matrix& y, const std::vector<float>& bias);

// dx (T × w.cols) = beta · dx + dy (T × w.rows) · w: the input gradient of a linear layer.
void linear_input_grad(Backend& be, const Matrix& dy, const Matrix& w, Matrix& dx, float beta);

// Per-token dynamic asymmetric fake quantization, in place: each row x_t is mapped to the
// grid of 2^bits levels spanning [min x_t, max x_t] (scale s = (max − min)/(2^bits − 1),
// zero point z = round(−min/s)) and back, x ← s·(clamp(round(x/s) + z, 0, 2^bits − 1) − z).
// A constant row is left as it is. bits in [2, 16]; 0 does nothing.
void fake_quant_tokens(Matrix& m, int bits);

// x_t · r_t ⊙ weight per row, r_t = 1 / sqrt(mean(x_t²) + eps).
Matrix rmsnorm(const Matrix& x, const std::vector<float>& weight, float eps);

// dx += the gradient through rmsnorm(x) of dy.
void rmsnorm_backward(const Matrix& x, const std::vector<float>& weight, float eps, const Matrix& dy,
                      Matrix& dx);

// RMSNorm of every head_size-wide head of every row of m, in place, with the per-head gain
// `weight` (head_size values): Qwen3's q/k norm.
void head_rmsnorm(Matrix& m, const std::vector<float>& weight, float eps);

// The RoPE frequency of pair j (0 <= j < head_size/2) under the config's theta and
// rope_scaling, for a forward whose context holds `context` positions (dynamic NTK scaling
// depends on it; the other kinds do not).
std::vector<double> rope_frequencies(const ModelConfig& config, int64_t context);

// cos/sin of the RoPE angles for positions pos0..pos0+T-1: T × head_size/2 each, pair j
// rotating at frequency theta^(-2j/head_size) (or the config's scaled frequencies).
struct RopeTable {
    std::vector<float> cos, sin;
    int64_t half = 0;
    RopeTable(int64_t pos0, int64_t T, int64_t head_size, float theta);
    // The frequencies of rope_frequencies(config, pos0 + T).
    RopeTable(int64_t pos0, int64_t T, const ModelConfig& config);
    // Rotates the adjacent pairs (2j, 2j+1) of every head of every row of m; inverse
    // rotates back (the transpose, which is also how gradients flow through RoPE).
    void apply(Matrix& m, bool inverse = false) const;
};

// Causal softmax in place over the rows of scores (T × L): row t sees columns
// 0..pos0+t (the last `window` of them when window > 0); the rest is set to 0.
void causal_softmax(Matrix& scores, int64_t pos0, int64_t window = 0);
// The same on rows × cols scores with leading dimension ld.
void causal_softmax(float* scores, int64_t rows, int64_t cols, int64_t ld, int64_t pos0, int64_t window = 0);

}  // namespace surgeon::model::ops
