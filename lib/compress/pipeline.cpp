#include "compress/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "core/memory_usage.hpp"
#include "nn/fisher.hpp"
#include "nn/forward.hpp"
#include "compress/activations.hpp"
#include "compress/block_compress.hpp"
#include "compress/mixed_json.hpp"
#include "compress/row_budget.hpp"
#include "layer/quant/mixed.hpp"

namespace surgeon::model {
namespace {

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

bool needs_output_fisher(const Model& model, const Recipe& recipe) {
    for (size_t b = 0; b < model.layers.size(); ++b)
        for (const char* name : kLinearNames) {
            const LayerPlan plan = recipe.plan_for("layers." + std::to_string(b) + "." + name);
            if (plan.is_mixed() && plan.mixed->allocator == Allocator::error &&
                plan.mixed->sensitivity == RowSensitivity::fisher)
                return true;
        }
    return false;
}

CompressionReport compress_model(Model& model, const std::vector<std::vector<int>>& calibration,
                                 const Recipe& recipe, const ContextPtr& ctx,
                                 const BlockProgress& progress) {
    require(!recipe.uses(Method::cbq), SURGEON_ERR_INVALID_ARGUMENT,
            "cbq quantizes across blocks: run it with compress_cbq (compress/cbq.hpp)");
    require(model.config.act_bits == 0, SURGEON_ERR_UNSUPPORTED,
            "the model quantizes its activations (" + std::to_string(model.config.act_bits) +
                " bits): calibrate its float original");
    const double t_start = now();
    CompressionReport report;
    std::vector<Matrix> states;
    for (const auto& seq : calibration) {
        if (seq.empty()) continue;
        states.push_back(embed(model, seq));
        report.calibration_tokens += static_cast<int64_t>(seq.size());
    }
    report.calibration_sequences = static_cast<int64_t>(states.size());

    const int64_t n_blocks = static_cast<int64_t>(model.layers.size());
    // Fisher-weighted layers read the output Fisher of the dense model.
    std::optional<OutputFisher> fisher;
    if (needs_output_fisher(model, recipe)) {
        ctx->progress("fisher", 0.0);
        fisher = output_fisher(backend_for(*ctx), model, calibration);
    }
    // Layers sharing a model-wide budget get their share from a plan on the dense model.
    if (has_model_scope(model, recipe)) {
        ctx->progress("budget", 0.0);
        report.row_budget = plan_row_budget(model, states, recipe, *fisher, ctx);
    }
    std::unique_ptr<ActivationStore> store = memory_store(states.size());
    for (size_t i = 0; i < states.size(); ++i) store->put(i, std::move(states[i]));
    states.clear();
    const BlockExtras extras{fisher ? &*fisher : nullptr, report.row_budget ? &*report.row_budget : nullptr};
    if (progress) progress(0, n_blocks);
    for (int64_t b = 0; b < n_blocks; ++b) {
        const double t0 = now();
        compress_block(b, model.config, model.layers[static_cast<size_t>(b)], *store, recipe, extras,
                       ActivationStores{}, ctx, report.layers);
        report.blocks.push_back({b, now() - t0, peak_rss_bytes()});
        if (progress) progress(b + 1, n_blocks);
    }
    report.seconds = now() - t_start;
    return report;
}

nlohmann::json CompressionReport::to_json() const {
    nlohmann::json layers_json = nlohmann::json::array();
    nlohmann::json experts_json = nlohmann::json::array();
    int64_t params = 0, zeros = 0;
    for (const CompressedLayer& l : layers) {
        nlohmann::json j{{"name", l.name},           {"method", method_name(l.plan.method)},
                         {"rows", l.rows},           {"cols", l.cols},
                         {"sparsity", l.sparsity},   {"seconds", l.seconds}};
        if (l.mixed) {
            j["bits"] = l.mixed->avg_bits();
            j["mixed"] = mixed_stats_to_json(*l.mixed);
            j["mixed"]["allocator"] = allocator_name(l.plan.mixed->allocator);
        } else {
            j["bits"] = l.plan.quantize ? nlohmann::json(l.plan.quant.bits) : nlohmann::json(nullptr);
        }
        j["loss"] = l.loss ? nlohmann::json(*l.loss) : nlohmann::json(nullptr);
        j["rel_error"] = l.rel_error ? nlohmann::json(*l.rel_error) : nlohmann::json(nullptr);
        if (l.routed_tokens) {
            j["routed_tokens"] = *l.routed_tokens;
            j["fallback"] = l.fallback.empty() ? nlohmann::json(nullptr) : nlohmann::json(l.fallback);
            // One entry per expert (taken from its w1, the first linear compressed).
            const std::string suffix = ".w1";
            if (l.name.size() > suffix.size() && l.name.compare(l.name.size() - suffix.size(), suffix.size(), suffix) == 0)
                experts_json.push_back({{"expert", l.name.substr(0, l.name.size() - suffix.size())},
                                        {"tokens", *l.routed_tokens},
                                        {"fell_back", !l.fallback.empty()},
                                        {"fallback", j["fallback"]}});
        }
        layers_json.push_back(j);
        params += l.rows * l.cols;
        zeros += static_cast<int64_t>(std::llround(l.sparsity * static_cast<double>(l.rows * l.cols)));
    }
    nlohmann::json j{{"layers", layers_json},
                     {"calibration_sequences", calibration_sequences},
                     {"calibration_tokens", calibration_tokens},
                     {"linear_params", params},
                     {"linear_sparsity", params ? static_cast<double>(zeros) / static_cast<double>(params) : 0.0},
                     {"seconds", seconds}};
    if (const auto total = mixed_total()) j["mixed"] = mixed_stats_to_json(*total);
    if (!experts_json.empty()) j["moe_experts"] = experts_json;
    nlohmann::json blocks_json = nlohmann::json::array();
    uint64_t peak = 0;
    for (const BlockRecord& b : blocks) {
        blocks_json.push_back({{"block", b.block}, {"seconds", b.seconds}, {"peak_rss_bytes", b.peak_rss_bytes}});
        peak = std::max(peak, b.peak_rss_bytes);
    }
    j["blocks"] = blocks_json;
    j["peak_rss_bytes"] = peak;
    if (resumed_at_block >= 0) j["resumed_at_block"] = resumed_at_block;
    j["ranks"] = ranks;
    if (!rank_seconds.empty()) j["rank_seconds"] = rank_seconds;
    if (row_budget) j["row_budget"] = row_budget->to_json();
    return j;
}

std::optional<MixedStats> CompressionReport::mixed_total() const {
    std::optional<MixedStats> total;
    for (const CompressedLayer& l : layers)
        if (l.mixed) {
            if (!total) total = *l.mixed;
            else total->add(*l.mixed);
        }
    return total;
}

}  // namespace surgeon::model
