// The numeric building blocks of a Llama block, shared by the forward pass and its
// backward (nn/backward.cpp), so both compute exactly the same function.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.hpp"
#include "core/matrix.hpp"

namespace surgeon::model::ops {

// y (T × w.rows, ldy) = beta · y + x (T × w.cols, ldx) · wᵀ: a linear layer on T rows.
void apply_linear(Backend& be, const float* x, int64_t T, int64_t ldx, const Matrix& w, float* y,
                  int64_t ldy, float beta = 0.0f);
Matrix apply_linear(Backend& be, const Matrix& x, const Matrix& w);

// dx (T × w.cols) = beta · dx + dy (T × w.rows) · w: the input gradient of a linear layer.
void linear_input_grad(Backend& be, const Matrix& dy, const Matrix& w, Matrix& dx, float beta);

// x_t · r_t ⊙ weight per row, r_t = 1 / sqrt(mean(x_t²) + eps).
Matrix rmsnorm(const Matrix& x, const std::vector<float>& weight, float eps);

// dx += the gradient through rmsnorm(x) of dy.
void rmsnorm_backward(const Matrix& x, const std::vector<float>& weight, float eps, const Matrix& dy,
                      Matrix& dx);

// cos/sin of the RoPE angles for positions pos0..pos0+T-1: T × head_size/2 each, pair j
// rotating at frequency theta^(-2j/head_size).
struct RopeTable {
    std::vector<float> cos, sin;
    int64_t half = 0;
    RopeTable(int64_t pos0, int64_t T, int64_t head_size, float theta);
    // Rotates the adjacent pairs (2j, 2j+1) of every head of every row of m; inverse
    // rotates back (the transpose, which is also how gradients flow through RoPE).
    void apply(Matrix& m, bool inverse = false) const;
};

// Causal softmax in place over the rows of scores (T × L): row t sees columns
// 0..pos0+t; the rest is set to 0.
void causal_softmax(Matrix& scores, int64_t pos0);
// The same on rows × cols scores with leading dimension ld.
void causal_softmax(float* scores, int64_t rows, int64_t cols, int64_t ld, int64_t pos0);

}  // namespace surgeon::model::ops
