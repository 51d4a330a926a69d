// The compression step of `surgeon layer`: one method applied to a packed weight.
#pragma once

#include <optional>

#include "cli/layer_options.hpp"
#include "core/context.hpp"
#include "core/matrix.hpp"
#include "layer/hessian/hessian.hpp"
#include "layer/prune/mask.hpp"
#include "layer/quant/quantizer.hpp"

namespace surgeon::cli {

struct LayerResult {
    Matrix w;                    // the compressed weight
    Mask mask;                   // when the method prunes (1 = keep)
    QuantResult codes;           // when it quantizes; codes.rows == 0 otherwise
    std::optional<double> loss;  // OBS loss Σ (w − q)² / (2 [U]ⱼⱼ²): sparsegpt and gptq only
    double seconds = 0.0;        // wall time of the compression alone (no file I/O)
};

LayerResult compress_layer(const LayerOptions& options, const ContextPtr& ctx, const Matrix& w,
                           const Hessian& h);

}  // namespace surgeon::cli
