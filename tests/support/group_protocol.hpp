// The true-sequential protocol written group by group, as the SparseGPT/GPTQ reference
// code runs it: for each group of linears, every calibration sequence runs through the
// whole block on its current weights (block_forward with a BlockCapture), the group's
// Hessian is accumulated from the captured input and the group is compressed; after the
// last group one more block forward gives the next block's inputs. The staged pass
// (compress/block_compress.hpp) must give the same result; the benchmark times this one
// against it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compress/block_compress.hpp"
#include "compress/layer_compress.hpp"
#include "compress/pipeline.hpp"
#include "compress/row_budget.hpp"
#include "compress/tree_sum.hpp"
#include "layer/hessian/hessian.hpp"
#include "nn/fisher.hpp"
#include "nn/forward.hpp"

namespace group_protocol {

using namespace surgeon;
using namespace surgeon::model;

// Block b by groups; `states` become the block's outputs. `timings` (when given) gets
// the block forwards, the Hessians and the compression.
inline void compress_block_by_groups(int64_t b, const ModelConfig& config, LayerWeights& layer,
                                     std::vector<Matrix>& states, const Recipe& recipe,
                                     const BlockExtras& extras, const ContextPtr& ctx,
                                     std::vector<CompressedLayer>& out, BlockTimings* timings = nullptr) {
    using clock = std::chrono::steady_clock;
    auto seconds = [](clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); };
    BlockTimings local;
    BlockTimings& times = timings ? *timings : local;
    Backend& be = backend_for(*ctx);
    for (const Group& group : kGroups) {
        std::vector<LayerPlan> plans;
        bool needs_h = false;
        for (const char* name : group.linears) {
            const std::string full = "layers." + std::to_string(b) + "." + name;
            plans.push_back(recipe.plan_for(full));
            LayerPlan& plan = plans.back();
            if (plan.is_mixed() && plan.mixed->scope == BudgetScope::model)
                plan.mixed->avg_bits = extras.row_budget->layer_avg_bits(full);
            needs_h = needs_h || plan.needs_calibration();
        }
        std::unique_ptr<Hessian> h;
        std::vector<double> down_sq;
        if (needs_h) {
            // One leaf per sequence, summed along the fixed tree (compress/tree_sum.hpp).
            const auto n = static_cast<int64_t>(states.size());
            TreeAccumulator sums(n, 0, n);
            int64_t cols = 0;
            for (const Matrix& x : states) {
                auto t0 = clock::now();
                BlockCapture capture;
                block_forward(be, config, layer, x, &capture);
                times.forward += seconds(t0);
                t0 = clock::now();
                const Matrix& in = captured(capture, group.tap);
                cols = in.cols;
                sums.push(group_leaf(ctx, in, group.tap == LinearInput::ffn_in ? &capture.down_in : nullptr));
                times.hessian += seconds(t0);
            }
            std::map<TreeNode, std::vector<double>> nodes;
            for (auto& [node, value] : sums.take()) nodes[node] = std::move(value);
            h = hessian_of_root(ctx, cols, tree_root(n, std::move(nodes)), down_sq);
        }
        const auto t_solve = clock::now();
        SolverCache solvers;
        for (size_t i = 0; i < group.linears.size(); ++i) {
            CompressedLayer c;
            c.name = "layers." + std::to_string(b) + "." + group.linears[i];
            c.plan = plans[i];
            Matrix& w = linear(layer, group.linears[i]);
            c.rows = w.rows;
            c.cols = w.cols;
            const LayerSite site{&config, &layer, group.linears[i], down_sq.empty() ? nullptr : &down_sq,
                                 extras.fisher ? &extras.fisher->of(c.name) : nullptr};
            compress_layer(ctx, plans[i], w, h.get(), solvers, site, c);
            int64_t zeros = 0;
            for (float v : w.data) zeros += v == 0.0f ? 1 : 0;
            c.sparsity = static_cast<double>(zeros) / static_cast<double>(w.data.size());
            out.push_back(std::move(c));
        }
        times.compress += seconds(t_solve);
    }
    const auto t0 = clock::now();
    for (Matrix& x : states) x = block_forward(be, config, layer, x, nullptr);
    times.forward += seconds(t0);
}

// The whole model by groups, with the same Fisher and model-wide budget passes as
// compress_model.
inline std::vector<CompressedLayer> compress_model_by_groups(Model& model,
                                                             const std::vector<std::vector<int>>& calibration,
                                                             const Recipe& recipe, const ContextPtr& ctx) {
    std::vector<Matrix> states;
    for (const auto& seq : calibration)
        if (!seq.empty()) states.push_back(embed(model, seq));
    std::optional<OutputFisher> fisher;
    if (needs_output_fisher(model, recipe)) fisher = output_fisher(backend_for(*ctx), model, calibration);
    std::optional<RowBudget> budget;
    if (has_model_scope(model, recipe)) budget = plan_row_budget(model, states, recipe, *fisher, ctx);
    const BlockExtras extras{fisher ? &*fisher : nullptr, budget ? &*budget : nullptr};
    std::vector<CompressedLayer> out;
    for (size_t b = 0; b < model.layers.size(); ++b)
        compress_block_by_groups(static_cast<int64_t>(b), model.config, model.layers[b], states, recipe, extras,
                                 ctx, out);
    return out;
}

}  // namespace group_protocol
