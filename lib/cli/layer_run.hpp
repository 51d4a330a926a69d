// The compression step of `surgeon layer`: one method applied to a packed weight through
// the C API.
#pragma once

#include <optional>

#include "cli/c_api.hpp"
#include "cli/layer_options.hpp"
#include "core/matrix.hpp"

namespace surgeon::cli {

struct LayerResult {
    Matrix w;                        // the compressed weight
    Handle<surgeon_mask> mask;       // when the method prunes (1 = keep)
    Handle<surgeon_qresult> codes;   // when it quantizes
    std::optional<double> loss;      // OBS loss Σ (w − q)² / (2 [U]ⱼⱼ²): sparsegpt and gptq only
    double seconds = 0.0;            // wall time of the compression alone (no file I/O)
};

LayerResult compress_layer(const LayerOptions& options, const surgeon_context* ctx, const Matrix& w,
                           const surgeon_hessian* h);

}  // namespace surgeon::cli
