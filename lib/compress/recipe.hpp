// Compression recipe: which method and options each linear layer gets. Layers are named
// "layers.<block>.<wq|wk|wv|wo|w1|w2|w3>"; rules match them with shell-style globs and are
// applied in order over the defaults (later rules override earlier ones, except that a
// "skip": true holds until a rule says "skip": false).
//
//   { "default": {"method": "sparsegpt", "sparsity": 0.5},
//     "rules": [ {"match": "layers.0.*", "skip": true},
//                {"match": "*.w2", "method": "gptq", "bits": 8, "group": 128} ] }
//
// "mixed" (quantizing methods) gives every row its own bit width (docs/mixed-precision.md);
// its keys merge over the inherited entry, so rules can set per-layer targets:
//   {"match": "layers.[0-2].*", "mixed": {"avg_bits": 3.5}}. "mixed": null removes it.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "compress/mixed_recipe.hpp"
#include "layer/quant/quantizer.hpp"
#include "surgeon/surgeon.h"

namespace surgeon::model {

// cbq quantizes across blocks (compress/cbq.hpp); it is run by compress_cbq, not by the
// layer-by-layer pipeline.
enum class Method { dense, sparsegpt, gptq, wanda, magnitude, rtn, cbq };

Method parse_method(const std::string& name);  // throws SURGEON_ERR_INVALID_ARGUMENT
const char* method_name(Method m);

struct LayerPlan {
    Method method = Method::dense;
    bool skip = false;  // left dense whatever the method says
    double sparsity = 0.0;
    int n = 0, m = 0;
    surgeon_mask_scope scope = SURGEON_MASK_SCOPE_BLOCK;
    bool quantize = false;  // gptq, rtn, or sparsegpt joint with quantization
    QuantConfig quant;
    double percdamp = 0.01;
    int64_t block_size = 128;
    // Per-row bit widths (gptq, rtn, sparsegpt joint); quant.bits is then unused.
    std::optional<MixedRecipe> mixed;

    bool needs_calibration() const;
    // Mixed precision is in effect (a quantizing method with a "mixed" entry).
    bool is_mixed() const;
    // Applies the keys present in `spec` (method, sparsity, nm "2:4", bits, group, sym/asym,
    // mse, act_order, static_groups, grid "affine"|"ggml", damp, blocksize, mask_scope, skip,
    // mixed).
    void apply(const nlohmann::json& spec);
    nlohmann::json to_json() const;
};

// Routed experts of a Mixture-of-Experts block (recipe key "moe": {"min_tokens": N,
// "fallback": "pooled" | "rtn"}; CLI --moe-min-tokens, --moe-fallback). Each expert's
// Hessians come from the calibration tokens routed to it; an expert that received fewer
// than min_tokens falls back: "pooled" keeps its plan on the Hessian of every token that
// reached the block (run through that expert), "rtn" drops calibration for it (a
// quantizing plan becomes RTN at the same bits, a pruning plan magnitude pruning at the
// same sparsity). See docs/models.md.
enum class MoeFallback { pooled, rtn };
MoeFallback parse_moe_fallback(const std::string& name);  // throws SURGEON_ERR_INVALID_ARGUMENT
const char* moe_fallback_name(MoeFallback f);
struct MoeOptions {
    int64_t min_tokens = 128;
    MoeFallback fallback = MoeFallback::pooled;
};

class Recipe {
public:
    Recipe() = default;
    explicit Recipe(LayerPlan defaults) : defaults_(std::move(defaults)) {}
    static Recipe from_json(const nlohmann::json& j);
    static Recipe from_file(const std::string& path);

    LayerPlan plan_for(const std::string& layer_name) const;
    const LayerPlan& defaults() const { return defaults_; }
    const MoeOptions& moe() const { return moe_; }
    MoeOptions& moe() { return moe_; }
    // Whether the defaults or some rule name method `m`.
    bool uses(Method m) const;
    // The options of a cbq run (recipe key "cbq", validated by CbqOptions::apply; an empty
    // object when absent).
    const nlohmann::json& cbq() const { return cbq_; }

private:
    struct Rule {
        std::string match;
        nlohmann::json spec;
    };
    LayerPlan defaults_;
    std::vector<Rule> rules_;
    MoeOptions moe_;
    nlohmann::json cbq_ = nlohmann::json::object();
};

}  // namespace surgeon::model
