#include "compress/gguf_plan.hpp"

#include <algorithm>
#include <string>

#include "compress/recipe.hpp"
#include "core/error.hpp"

namespace surgeon::model {

nlohmann::json gguf_recipe(const nlohmann::json& recipe, const ModelConfig& config,
                           const std::vector<int64_t>& ffn_sizes,
                           std::vector<std::string>* left_unquantized) {
    nlohmann::json out = recipe;
    out["default"]["grid"] = "ggml";
    const Recipe probe = Recipe::from_json(out);  // a setting the ggml grid cannot take fails here
    int64_t widest = 0;
    for (int64_t f : ffn_sizes) widest = std::max(widest, f);
    for (int64_t b = 0; b < config.n_layers; ++b)
        for (const char* l : kLinearNames) {
            const std::string name = "layers." + std::to_string(b) + "." + l;
            const LayerPlan plan = probe.plan_for(name);
            if (plan.method == Method::dense || !plan.quantize) continue;
            require_arg(plan.quant.kind == GridKind::ggml,
                        name + " quantizes on the affine grid: GGUF blocks need \"grid\": \"ggml\"");
            const std::string linear = l;
            const int64_t width = linear == "w2"   ? ffn_sizes.at(static_cast<size_t>(b))
                                  : linear == "wo" ? config.q_dim()
                                                   : config.dim;
            // A narrower FFN's down projection is padded with zero columns in the GGUF
            // (io/gguf.hpp): its blocks could not take them.
            const bool padded_down = linear == "w2" && width < widest;
            if (width % kGgmlBlock == 0 && !padded_down) continue;
            if (left_unquantized) left_unquantized->push_back(name);
            if (plan.method == Method::gptq || plan.method == Method::rtn)
                out["rules"].push_back({{"match", name}, {"skip", true}});
            else
                out["rules"].push_back({{"match", name}, {"bits", nullptr}});
        }
    return out;
}

}  // namespace surgeon::model
