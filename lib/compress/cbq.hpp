// CBQ, cross-block quantization (Ding et al., "CBQ: Cross-Block Quantization for Large
// Language Models", ICLR 2025): the blocks of a model are quantized in sliding windows of
// `window` blocks (the next window starts window − overlap blocks later), each window
// trained on the calibration sequences to reproduce the output of the full-precision
// window on the same inputs. Per window:
//   - coarse-to-fine preprocessing (compress/cfp.hpp) of each block entering its first
//     window, on the inputs the quantized model gives it;
//   - every quantized linear gets LoRA-rounding (compress/lora_rounding.hpp): learned
//     low-rank rounding offsets and step sizes on the recipe's affine grid;
//   - the linears' inputs are fake-quantized per token (ModelConfig::act_bits) with
//     straight-through gradients;
//   - the loss per sequence is reconstruction_loss (MSE + KL over the hidden dimension)
//     plus the rounding regularizer with β annealed from beta_start to beta_end after a
//     warm-up without it (AdaRound); Adam, one sequence per step;
//   - the blocks leaving the window are hardened into integer codes and the calibration
//     inputs advance through them.
// The backward pass through a window is the model's block backward (nn/backward.hpp).
// The whole model is held in memory: CBQ runs on models that fit in RAM; the streamed
// pipeline (compress/streamed.hpp) does not run it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compress/pipeline.hpp"
#include "compress/recipe.hpp"
#include "core/backend.hpp"
#include "core/context.hpp"
#include "layer/quant/quantizer.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

struct CbqOptions {
    int64_t window = 2;           // blocks optimized together
    int64_t overlap = 1;          // blocks shared by consecutive windows (< window)
    int64_t rank = 5;             // rank r of A₁·A₂
    int64_t epochs = 4;           // passes over the calibration sequences per window
    double lr = 1e-3;             // Adam learning rate of A₁, A₂
    double scale_lr = 1e-3;       // Adam learning rate of the log step sizes u
    double kl_weight = 1.0;       // weight of the KL term against the mean squared error
    double rounding_weight = 0.01;  // weight of the rounding regularizer
    double beta_start = 20.0, beta_end = 2.0;
    double warmup = 0.2;          // fraction of a window's steps without the regularizer
    bool cfp = true;              // coarse-to-fine outlier preprocessing
    bool lora_rounding = true;    // false: rounding to nearest, only step sizes learned
    // The forward pass uses the soft offsets h(V) (AdaRound) instead of the hard [V > 0]
    // with straight-through gradients (docs/cbq.md: the soft form leaves a large gap at
    // hardening when V is low-rank).
    bool soft_rounding = false;
    int act_bits = 0;             // activation bits (0: float activations)
    uint64_t seed = 0;            // initialization of A₁

    void validate() const;  // throws SURGEON_ERR_INVALID_ARGUMENT
    // Keys: window, overlap, rank, epochs, lr, scale_lr, kl_weight, rounding_weight,
    // beta_start, beta_end, warmup, cfp, lora_rounding, act_bits, seed (recipe "cbq").
    void apply(const nlohmann::json& j);
    nlohmann::json to_json() const;
};

struct CbqWindowRecord {
    int64_t first = 0, last = 0;   // blocks [first, last)
    double loss_first_epoch = 0;   // mean reconstruction loss (MSE + KL) over the first epoch
    double loss_last_epoch = 0;    // ... over the last epoch (soft rounding)
    double loss_hard = 0;          // ... of the hardened window, measured after training
    int64_t steps = 0;
    double seconds = 0;
};

struct CbqReport {
    CompressionReport compression;            // per-layer records (codes in quant)
    std::vector<CbqWindowRecord> windows;
    std::vector<nlohmann::json> cfp;          // per block, when preprocessing ran
    nlohmann::json to_json() const;
};

// The per-sequence reconstruction loss: mean((out − target)²) over all entries plus
// kl_weight · the mean over tokens of KL(softmax(target_t) ‖ softmax(out_t)) (softmax over
// the hidden dimension). d_out (nullable) receives its gradient w.r.t. out.
double reconstruction_loss(const Matrix& out, const Matrix& target, double kl_weight, Matrix* d_out);

// The blocks `layers` run in order on x (the config's act_bits applying), and their
// reconstruction loss against target. With weight_grads, also runs the block backward and
// fills (*weight_grads)[k][i] with the gradient of the loss w.r.t. block k's linear
// kLinearNames[i] (its input gradient straight through the activation quantization).
double window_loss(Backend& be, const ModelConfig& config, const std::vector<LayerWeights>& layers, const Matrix& x,
                   const Matrix& target, double kl_weight, std::vector<std::vector<Matrix>>* weight_grads);

// Called after every window with its record.
using CbqProgress = std::function<void(const CbqWindowRecord& done, int64_t windows_total)>;

// Quantizes `model` in place: every linear whose recipe plan is "method": "cbq" (not
// skipped) gets the plan's bits, group and symmetry; the other linears stay float (CFP
// may still rescale them, keeping the float function). Sets model.config.act_bits to
// options.act_bits. `calibration` holds token sequences (each starting with BOS).
// Throws SURGEON_ERR_UNSUPPORTED for a model with q/k norms or experts, and
// SURGEON_ERR_INVALID_ARGUMENT for bad options or an empty calibration set.
CbqReport compress_cbq(Model& model, const std::vector<std::vector<int>>& calibration, const Recipe& recipe,
                       const CbqOptions& options, const ContextPtr& ctx, const CbqProgress& progress = {});

}  // namespace surgeon::model
