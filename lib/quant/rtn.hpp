#pragma once

#include "core/context.hpp"
#include "core/matrix.hpp"
#include "quant/quantizer.hpp"

namespace surgeon {

// Round-to-nearest on the grid found per row (or per row and group) of the dense weight.
// w is updated in place; out (nullable) receives the codes.
void quantize_rtn(const Context& ctx, MatView w, const QuantConfig& cfg, QuantResult* out);

}  // namespace surgeon
