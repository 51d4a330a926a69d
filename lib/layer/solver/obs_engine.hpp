// The Optimal Brain Surgeon engine shared by SparseGPT and GPTQ: columns are visited in
// order; each column's weights are pruned and/or quantized, and the error is spread over
// the columns to its right through U, the upper Cholesky factor of H⁻¹. Inside a block of
// columns every row is independent, so rows are processed in parallel on cache-resident
// copies; the rest of the matrix receives one GEMM per block (the lazy update).
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.hpp"
#include "core/matrix.hpp"
#include "layer/quant/quantizer.hpp"
#include "surgeon/surgeon.h"

namespace surgeon {

struct ObsPruneSpec {
    bool enabled = false;
    double sparsity = 0.0;  // unstructured, when n == 0
    int n = 0, m = 0;       // n:m when n > 0
    surgeon_mask_scope scope = SURGEON_MASK_SCOPE_BLOCK;
};

struct ObsQuantSpec {
    const QuantConfig* cfg = nullptr;  // null: no quantization
    std::vector<int> row_bits;         // per-row bit widths; empty: cfg->bits for every row
    int64_t groups = 1;                // grids per row
    std::vector<int32_t> group_of_col; // working column -> grid index in its row
    bool dynamic_groups = false;       // grids found when a group's first column is reached
    std::vector<Grid> grids;           // rows × groups; pre-filled unless dynamic_groups

    int bits_of_row(int64_t r) const { return row_bits.empty() ? cfg->bits : row_bits[r]; }
};

struct ObsOutput {
    std::vector<uint8_t> keep;   // rows × cols (working column order), when pruning
    std::vector<uint8_t> codes;  // rows × cols (working column order), when quantizing
    double loss = 0.0;           // Σ (w − q)² / (2 U_jj²)
    bool finite = true;          // false when an update produced NaN/Inf
};

// w (rows × cols, packed) is replaced by the compressed weights; u is cols × cols. A block
// (>= 1) above cols runs as one block of cols columns.
// quant.grids is completed for dynamic groups.
void run_obs(const Context& ctx, Backend& backend, Matrix& w, const Matrix& u, int64_t block,
             const ObsPruneSpec& prune, ObsQuantSpec& quant, ObsOutput& out,
             const char* stage);

}  // namespace surgeon
