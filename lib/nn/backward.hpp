// Reverse-mode gradients of a sequence's summed next-token NLL (what sequence_nll returns)
// with respect to the outputs of every linear layer, for sensitivity measures such as the
// output Fisher (nn/fisher.hpp). Weight gradients are not formed: the output gradient
// of a linear, G (T × rows), gives them as Gᵀ·X when wanted.
#pragma once

#include <vector>

#include "core/backend.hpp"
#include "nn/forward.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

// Gradients of one block's seven linear outputs, T × rows each: q and k before RoPE (the
// linears' own outputs), gate/up before SwiGLU.
struct LinearGradients {
    Matrix wq, wk, wv, wo, w1, w2, w3;
    const Matrix& of(const std::string& linear) const;  // by llama2.c name
};

struct SequenceGradients {
    double nll = 0.0;                     // Σ_t −log p(tokens[t+1] | tokens[..t])
    std::vector<LinearGradients> blocks;  // per block
};

// One block backward: given the block input x, the tape of block_forward_taped on x and
// the gradient of the block output, fills `g` with the gradients of the seven linears'
// outputs and returns the gradient of x. Activation quantization (config.act_bits) passes
// gradients straight through. Biases shift what the tape holds and need nothing here; a
// block with per-head q/k norms or routed experts is SURGEON_ERR_UNSUPPORTED.
Matrix block_backward(Backend& be, const ModelConfig& config, const LayerWeights& layer, const Matrix& x,
                      const BlockTape& tape, const Matrix& d_out, LinearGradients& g);

// Runs tokens[0..T-2] forward, predicting tokens[1..T-1], and back again. A sequence of
// fewer than 2 tokens has nothing to predict (nll 0, empty gradients).
SequenceGradients linear_output_gradients(Backend& be, const Model& model, const std::vector<int>& tokens);

}  // namespace surgeon::model
