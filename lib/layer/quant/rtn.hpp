#pragma once

#include <vector>

#include "core/context.hpp"
#include "core/matrix.hpp"
#include "layer/quant/quantizer.hpp"

namespace surgeon {

// Round-to-nearest on the grid found per row (or per row and group) of the dense weight.
// w is updated in place; out (nullable) receives the codes. row_bits (optional, one width
// in 1..8 per row) replaces cfg.bits row by row: rows are independent, so each row is
// exactly uniform RTN at its own width.
void quantize_rtn(const Context& ctx, MatView w, const QuantConfig& cfg, QuantResult* out,
                  const std::vector<int>* row_bits = nullptr);

}  // namespace surgeon
