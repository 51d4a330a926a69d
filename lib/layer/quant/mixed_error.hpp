// Error model of the error-driven allocator: each row's Hessian-weighted quantization
// error at every bit option, estimated without running the solver once per option.
//
// GPTQ's loss is exactly Σ_j (w̃_ij − q_ij)² / U_jj² (U the upper Cholesky factor of H⁻¹,
// w̃ the weights after the updates of earlier columns), so a row's error at b bits is
// estimated as Σ_j c_j · (w_ij − q_b(w_ij))² with c_j = 1 / U_jj² and q_b the row's own
// grid at b bits (per group when grouped, MSE search when enabled): the rounding noise of
// the row's real weight distribution, weighted as GPTQ weighs it. Without a factor, c_j =
// H_jj gives the round-to-nearest error instead.
#pragma once

#include <cstdint>
#include <vector>

#include "core/context.hpp"
#include "core/matrix.hpp"
#include "layer/quant/quantizer.hpp"

namespace surgeon {

// 1 / U_jj² per column (the GPTQ loss weights).
std::vector<float> obs_column_weights(const Matrix& u);

// rows × options.size() (row-major, columns in the order of `options`). cfg supplies the
// grid settings (symmetric, group size, MSE search); its bit width is ignored.
std::vector<double> estimate_row_errors(const Context& ctx, ConstMatView w,
                                        const std::vector<float>& column_weight,
                                        const QuantConfig& cfg, const std::vector<int>& options);

}  // namespace surgeon
