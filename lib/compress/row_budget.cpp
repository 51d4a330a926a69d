#include "compress/row_budget.hpp"

#include <cmath>
#include <memory>

#include "nn/forward.hpp"
#include "compress/layer_compress.hpp"
#include "layer/quant/allocation.hpp"

namespace surgeon::model {
namespace {

bool model_scope(const LayerPlan& plan) {
    return plan.is_mixed() && plan.mixed->scope == BudgetScope::model;
}

}  // namespace

double RowBudget::layer_avg_bits(const std::string& name) const {
    const auto it = layers.find(name);
    require(it != layers.end(), SURGEON_ERR_INTERNAL, "no model-wide budget for layer '" + name + "'");
    return static_cast<double>(it->second.bits) / static_cast<double>(it->second.rows);
}

nlohmann::json RowBudget::to_json() const {
    nlohmann::json per_layer = nlohmann::json::object();
    for (const auto& [name, l] : layers)
        per_layer[name] = {{"bits", static_cast<double>(l.bits) / static_cast<double>(l.rows)},
                           {"predicted_rise", l.predicted_rise}};
    return {{"target_bits", target_bits}, {"avg_bits", avg_bits}, {"predicted_rise", predicted_rise},
            {"layers", per_layer}};
}

bool has_model_scope(const Model& model, const Recipe& recipe) {
    for (size_t b = 0; b < model.layers.size(); ++b)
        for (const char* name : kLinearNames)
            if (model_scope(recipe.plan_for("layers." + std::to_string(b) + "." + name))) return true;
    return false;
}

RowBudget plan_row_budget(const Model& model, std::vector<Matrix> states, const Recipe& recipe,
                          const OutputFisher& fisher, const ContextPtr& ctx) {
    if (model.config.moe.n_experts > 0)
        fail(SURGEON_ERR_UNSUPPORTED, "model-wide bit budgets do not cover routed experts (" + model.config.family +
                                          " model)");
    require(!states.empty(), SURGEON_ERR_INVALID_ARGUMENT,
            "a model-wide bit budget needs calibration data");
    std::vector<BudgetGroup> groups;
    std::vector<std::string> names;
    double budget = 0.0, weights = 0.0;
    for (size_t b = 0; b < model.layers.size(); ++b) {
        const LayerWeights& layer = model.layers[b];
        const std::string prefix = "layers." + std::to_string(b) + ".";
        // The dense block: one forward per sequence gives every group's input.
        std::unique_ptr<Hessian> h[kLinearInputs];
        bool any = false;
        for (const Group& group : kGroups)
            for (const char* name : group.linears)
                if (model_scope(recipe.plan_for(prefix + name)) && !h[static_cast<int>(group.tap)]) {
                    h[static_cast<int>(group.tap)] = std::make_unique<Hessian>(ctx, linear(layer, name).cols);
                    any = true;
                }
        std::vector<double> down_sq;
        const bool last = b + 1 == model.layers.size();
        if (any || !last)
            for (Matrix& x : states) {
                BlockCapture capture;
                Matrix y = block_forward(backend_for(*ctx), model.config, layer, x, any ? &capture : nullptr);
                for (const Group& group : kGroups)
                    if (Hessian* hg = h[static_cast<int>(group.tap)].get()) {
                        const Matrix& in = captured(capture, group.tap);
                        hg->add(in.data.data(), in.rows, in.cols);
                    }
                if (h[static_cast<int>(LinearInput::ffn_in)]) add_column_squares(capture.down_in, down_sq);
                if (!last) x = std::move(y);
            }
        for (const Group& group : kGroups) {
            SolverCache solvers;
            const Hessian* hg = h[static_cast<int>(group.tap)].get();
            for (const char* name : group.linears) {
                const std::string full = prefix + name;
                const LayerPlan plan = recipe.plan_for(full);
                if (!model_scope(plan)) continue;
                const Matrix& w = linear(layer, name);
                const LayerSite site{&model.config, &layer, name,
                                     group.tap == LinearInput::ffn_in ? &down_sq : nullptr, &fisher.of(full)};
                BudgetGroup g;
                g.options = plan.mixed->options;
                g.weight = w.cols;
                g.rows = w.rows;
                g.cost = mixed_row_costs(*ctx, plan, w, *hg, solver_for(solvers, ctx, *hg, plan), site);
                budget += plan.mixed->avg_bits * static_cast<double>(w.rows * w.cols);
                weights += static_cast<double>(w.rows * w.cols);
                groups.push_back(std::move(g));
                names.push_back(full);
            }
        }
    }
    // The same tolerance as attainable_total: a decimal target times the weights.
    const auto total = static_cast<int64_t>(std::floor(budget + 1e-7));
    const std::vector<std::vector<int>> bits = solve_grouped_budget(groups, total);

    RowBudget out;
    out.target_bits = budget / weights;
    double stored = 0.0;
    for (size_t g = 0; g < groups.size(); ++g) {
        RowBudget::Layer l;
        l.rows = groups[g].rows;
        l.cols = groups[g].weight;
        const size_t k = groups[g].options.size();
        for (int64_t i = 0; i < l.rows; ++i) {
            const int b = bits[g][static_cast<size_t>(i)];
            l.bits += b;
            for (size_t m = 0; m < k; ++m)
                if (groups[g].options[m] == b) l.predicted_rise += groups[g].cost[static_cast<size_t>(i) * k + m];
        }
        stored += static_cast<double>(l.bits * l.cols);
        out.predicted_rise += l.predicted_rise;
        out.layers[names[g]] = l;
    }
    out.avg_bits = stored / weights;
    return out;
}

}  // namespace surgeon::model
