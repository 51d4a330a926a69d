#include "compress/export_plan.hpp"

namespace surgeon::model {

LinearExportPlan export_plan_of(const std::string& name, int64_t rows, int64_t cols, const LayerPlan& plan) {
    LinearExportPlan p;
    p.name = name;
    p.rows = rows;
    p.cols = cols;
    const bool quantizing_method = plan.method == Method::gptq || plan.method == Method::rtn ||
                                   plan.method == Method::sparsegpt || plan.method == Method::cbq;
    p.quantized = plan.quantize && quantizing_method;
    if (!p.quantized) return p;
    p.mixed = plan.is_mixed();
    p.solver = plan.method == Method::gptq || plan.method == Method::sparsegpt;
    p.bits = plan.quant.bits;
    p.group_size = plan.quant.group_size;
    p.sym = plan.quant.symmetric;
    p.act_order = plan.quant.act_order;
    p.static_groups = plan.quant.static_groups;
    p.mse = plan.quant.mse;
    p.damp = plan.percdamp;
    return p;
}

std::vector<LinearExportPlan> export_plans(const ModelConfig& config, const std::vector<int64_t>& ffn_sizes,
                                           const Recipe& recipe) {
    std::vector<LinearExportPlan> plans;
    for (int64_t b = 0; b < config.n_layers; ++b) {
        const int64_t ffn = b < static_cast<int64_t>(ffn_sizes.size()) ? ffn_sizes[static_cast<size_t>(b)]
                                                                       : config.hidden_dim;
        const struct {
            const char* name;
            int64_t rows, cols;
        } shapes[] = {{"wq", config.q_dim(), config.dim}, {"wk", config.kv_dim(), config.dim},
                      {"wv", config.kv_dim(), config.dim}, {"wo", config.dim, config.q_dim()},
                      {"w1", ffn, config.dim},             {"w2", config.dim, ffn},
                      {"w3", ffn, config.dim}};
        for (const auto& s : shapes) {
            const std::string name = "layers." + std::to_string(b) + "." + s.name;
            plans.push_back(export_plan_of(name, s.rows, s.cols, recipe.plan_for(name)));
        }
    }
    return plans;
}

std::vector<LinearExportPlan> export_plans(const CompressionReport& report) {
    std::vector<LinearExportPlan> plans;
    for (const CompressedLayer& l : report.layers) plans.push_back(export_plan_of(l.name, l.rows, l.cols, l.plan));
    return plans;
}

}  // namespace surgeon::model
