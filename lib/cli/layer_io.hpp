// Files of `surgeon layer`: the weight and the calibration data in, the compressed weight,
// mask and integer codes out (NumPy .npy). Every shape is checked against the weight.
#pragma once

#include <string>

#include "cli/c_api.hpp"
#include "cli/layer_options.hpp"
#include "cli/layer_run.hpp"
#include "core/matrix.hpp"
#include "core/npy.hpp"

namespace surgeon::cli {

struct LayerWeight {
    Matrix w;                        // rows = out_features, cols = in_features
    NpyDtype dtype = NpyDtype::f32;  // as stored in the file
};

LayerWeight load_weight(const std::string& path);

// From --inputs (n × cols rows, accumulated) or --hessian (a finished cols × cols H).
Handle<surgeon_hessian> load_hessian(const LayerOptions& options, const surgeon_context* ctx, int64_t cols);

// --out, and --mask-out / --codes-out when given.
void write_layer_outputs(const LayerOptions& options, const LayerResult& result, NpyDtype dtype);

}  // namespace surgeon::cli
