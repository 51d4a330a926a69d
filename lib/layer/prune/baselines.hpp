// Calibration-light pruning baselines.
#pragma once

#include <vector>

#include "core/context.hpp"
#include "core/matrix.hpp"
#include "layer/prune/mask.hpp"

namespace surgeon {

// |w| against one threshold over the whole matrix, or n:m within each row. In place.
Mask prune_magnitude(const Context& ctx, MatView w, double sparsity, int n, int m);

// Wanda: |w_ij| · norms[j] compared within each row, or n:m. In place.
Mask prune_wanda(const Context& ctx, MatView w, const std::vector<float>& input_norms,
                 double sparsity, int n, int m);

}  // namespace surgeon
