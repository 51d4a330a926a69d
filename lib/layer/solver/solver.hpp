// SparseGPT / GPTQ solver over one layer input's Hessian. The factorization of H⁻¹ is
// computed once (per column order) and reused for every weight that shares the inputs.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/context.hpp"
#include "core/matrix.hpp"
#include "layer/hessian/hessian.hpp"
#include "layer/prune/mask.hpp"
#include "layer/quant/quantizer.hpp"
#include "surgeon/surgeon.h"

namespace surgeon {

struct PruneOptions {
    double sparsity = 0.0;
    int n = 0, m = 0;
    surgeon_mask_scope scope = SURGEON_MASK_SCOPE_BLOCK;
};

class Solver {
public:
    Solver(ContextPtr ctx, const Hessian& h, double percdamp, int64_t block);

    int64_t cols() const { return h_.cols; }
    // The solver's copy of H (inputs never active hold 1 on the diagonal) and those inputs.
    const Matrix& hessian() const { return h_; }
    const std::vector<uint8_t>& inactive_inputs() const { return dead_; }
    void factorize() { factor(false); }
    double damping() { return factor(false).damp; }
    // U, the upper Cholesky factor of the damped H⁻¹ in natural column order (H⁻¹ = UᵀU),
    // factorized on first use; mixed precision reads diag(H⁻¹) and 1/U_jj² from it.
    const Matrix& inverse_factor() { return factor(false).u; }

    // w is updated in place only when the whole call succeeds. row_bits (optional, one
    // per row) overrides the quantizer's bit width row by row.
    void prune(MatView w, const PruneOptions& opt, const QuantConfig* quant, Mask* mask_out,
               QuantResult* quant_out, double* loss_out,
               const std::vector<int>* row_bits = nullptr);
    void quantize(MatView w, const QuantConfig& quant, QuantResult* quant_out, double* loss_out,
                  const std::vector<int>* row_bits = nullptr);

private:
    struct Factor {
        std::vector<int32_t> perm;  // working column k = original column perm[k]
        Matrix u;
        double damp = 0.0;
    };
    const Factor& factor(bool act_order);
    std::unique_ptr<Factor> compute_factor(bool act_order) const;
    void run(MatView w, const PruneOptions* prune, const QuantConfig* quant, Mask* mask_out,
             QuantResult* quant_out, double* loss_out, const std::vector<int>* row_bits);

    ContextPtr ctx_;
    Matrix h_;                   // dead inputs already set to H_ii = 1
    std::vector<uint8_t> dead_;  // inputs never active (H_ii == 0)
    double percdamp_;
    int64_t block_;
    std::mutex mutex_;
    std::unique_ptr<Factor> natural_, act_order_;
};

}  // namespace surgeon
