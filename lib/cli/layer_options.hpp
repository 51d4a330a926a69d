// Options of `surgeon layer`: parsed and cross-checked before any file is read, so a bad
// command line fails at once with a message that names the flag.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "surgeon/surgeon.h"

namespace surgeon::cli {

enum class LayerMethod { sparsegpt, gptq, wanda, magnitude, rtn };

// The quantization grid as given on the command line (what a surgeon_quantizer is set to).
struct LayerQuant {
    int bits = 4;
    int64_t group_size = 0;  // 0: one grid per row
    bool symmetric = true;
    bool mse = false;
    bool act_order = false;
    bool static_groups = false;
};

const char* method_name(LayerMethod method);

struct LayerOptions {
    std::string weight_path, inputs_path, hessian_path;  // one of inputs / hessian is set
    int64_t samples = 1;                                 // rows behind a --hessian file
    std::string out_path, mask_path, codes_prefix;       // mask / codes: "" = not written
    bool fp16_out = false;
    bool overwrite = false;  // replace existing outputs
    int threads = 0;  // 0: all hardware threads

    LayerMethod method = LayerMethod::sparsegpt;
    double sparsity = 0.0;  // unstructured pruning, when n == 0
    int n = 0, m = 0;       // n:m pruning when n > 0
    surgeon_mask_scope scope = SURGEON_MASK_SCOPE_BLOCK;
    bool quantize = false;  // quant holds the grid settings when set
    LayerQuant quant;
    int64_t blocksize = 128;
    double damp = 0.01;

    bool prunes() const {
        return method == LayerMethod::sparsegpt || method == LayerMethod::wanda ||
               method == LayerMethod::magnitude;
    }
    bool uses_solver() const {
        return method == LayerMethod::sparsegpt || method == LayerMethod::gptq;
    }
    // The compression settings in effect (defaults resolved), for the JSON report.
    nlohmann::ordered_json to_json() const;
};

// Throws std::invalid_argument (a usage error) on any bad or inconsistent flag.
LayerOptions parse_layer_options(const std::vector<std::string>& argv);

extern const char* const kLayerUsage;

}  // namespace surgeon::cli
