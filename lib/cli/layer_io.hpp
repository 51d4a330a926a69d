// Files of `surgeon layer`: the weight and the calibration data in, the compressed weight,
// mask and integer codes out (NumPy .npy). Every shape is checked against the weight.
#pragma once

#include <string>
#include <vector>

#include "cli/c_api.hpp"
#include "cli/layer_options.hpp"
#include "cli/layer_run.hpp"
#include "core/matrix.hpp"
#include "core/npy.hpp"
#include "core/output_file.hpp"

namespace surgeon::cli {

struct LayerWeight {
    Matrix w;                        // rows = out_features, cols = in_features
    NpyDtype dtype = NpyDtype::f32;  // as stored in the file
};

LayerWeight load_weight(const std::string& path);

// From --inputs (n × cols rows, accumulated) or --hessian (a finished cols × cols H).
Handle<surgeon_hessian> load_hessian(const LayerOptions& options, const surgeon_context* ctx, int64_t cols);

// The final paths of --out, and of --mask-out / --codes-out (five files) when given.
std::vector<std::string> layer_output_paths(const LayerOptions& options);

// Writes every output at its staged path in `outputs` (the caller commits).
void write_layer_outputs(const LayerOptions& options, const LayerResult& result, NpyDtype dtype,
                         const StagedOutputs& outputs);

}  // namespace surgeon::cli
