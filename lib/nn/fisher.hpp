// Output Fisher of every linear layer: how much the model's loss cares about each output
// channel. With g_{t,i} = ∂(Σ NLL)/∂y_{t,i} (nn/backward.hpp) over the calibration
// sequences and N predicted tokens,
//     F_i = Σ_{seq,t} g_{t,i}² / N,
// and an error δ_i in output channel i (uncorrelated with the gradient, as quantization
// noise is) raises the mean NLL by about ½·F_i·E_t[δ_i²] (the empirical Fisher, i.e.
// Gauss–Newton, approximation of the loss curvature). With the Hessian H = 2/n·Σxxᵀ of
// the pipeline, E_t[δ_i²] = ½·(ΔW H ΔWᵀ)_ii, so a row's predicted rise is ¼·F_i·err_i:
// row errors become nats, comparable across rows, layers and blocks.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/backend.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

struct OutputFisher {
    std::map<std::string, std::vector<double>> rows;  // "layers.<b>.<linear>" → F per output row
    int64_t tokens = 0;                               // N
    double nll = 0.0;                                 // mean NLL of the sequences
    // F of a linear's rows; throws SURGEON_ERR_INVALID_ARGUMENT for an unknown name.
    const std::vector<double>& of(const std::string& layer_name) const;
};

// Accumulated over `sequences` (each predicted from its own tokens, as perplexity does),
// the backend's thread count of sequences at a time. Deterministic for a thread count.
OutputFisher output_fisher(Backend& be, const Model& model, const std::vector<std::vector<int>>& sequences);

}  // namespace surgeon::model
