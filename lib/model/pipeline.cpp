#include "model/pipeline.hpp"

#include <chrono>
#include <cmath>
#include <memory>

#include "core/backend.hpp"
#include "hessian/hessian.hpp"
#include "model/forward.hpp"
#include "prune/baselines.hpp"
#include "quant/rtn.hpp"
#include "solver/metrics.hpp"
#include "solver/solver.hpp"

namespace surgeon::model {
namespace {

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double zero_fraction(const Matrix& w) {
    int64_t zeros = 0;
    for (float v : w.data) zeros += v == 0.0f ? 1 : 0;
    return w.data.empty() ? 0.0 : static_cast<double>(zeros) / static_cast<double>(w.data.size());
}

// Which captured activation feeds a group of linears.
enum class Tap { attn_in, attn_out_in, ffn_in, down_in };

struct Group {
    Tap tap;
    std::vector<const char*> linears;
};

const Group kGroups[] = {
    {Tap::attn_in, {"wq", "wk", "wv"}},
    {Tap::attn_out_in, {"wo"}},
    {Tap::ffn_in, {"w1", "w3"}},
    {Tap::down_in, {"w2"}},
};

const Matrix& tapped(const BlockCapture& c, Tap tap) {
    switch (tap) {
        case Tap::attn_in: return c.attn_in;
        case Tap::attn_out_in: return c.attn_out_in;
        case Tap::ffn_in: return c.ffn_in;
        case Tap::down_in: return c.down_in;
    }
    return c.attn_in;
}

// Runs the block on every calibration state and accumulates the tapped inputs.
std::unique_ptr<Hessian> collect_hessian(const Model& model, const LayerWeights& layer,
                                         const std::vector<Matrix>& states, Tap tap,
                                         const ContextPtr& ctx) {
    std::unique_ptr<Hessian> h;
    for (const Matrix& x : states) {
        BlockCapture capture;
        block_forward(model.config, layer, x, &capture);
        const Matrix& in = tapped(capture, tap);
        if (!h) h = std::make_unique<Hessian>(ctx, in.cols);
        h->add(in.data.data(), in.rows, in.cols);
    }
    return h;
}

void compress_layer(const ContextPtr& ctx, const LayerPlan& plan, Matrix& w, const Hessian* h,
                    std::map<std::pair<double, int64_t>, std::unique_ptr<Solver>>& solvers,
                    CompressedLayer& out) {
    const Context& c = *ctx;
    Matrix original = plan.method == Method::dense ? Matrix() : w;
    QuantResult codes;
    auto solver = [&]() -> Solver& {
        auto& slot = solvers[{plan.percdamp, plan.block_size}];
        if (!slot) slot = std::make_unique<Solver>(ctx, *h, plan.percdamp, plan.block_size);
        return *slot;
    };
    double loss = 0.0;
    switch (plan.method) {
        case Method::dense:
            break;
        case Method::sparsegpt: {
            PruneOptions opt;
            opt.sparsity = plan.sparsity;
            opt.n = plan.n;
            opt.m = plan.m;
            opt.scope = plan.scope;
            solver().prune(w.view(), opt, plan.quantize ? &plan.quant : nullptr, nullptr,
                           plan.quantize ? &codes : nullptr, &loss);
            out.loss = loss;
            break;
        }
        case Method::gptq:
            solver().quantize(w.view(), plan.quant, &codes, &loss);
            out.loss = loss;
            break;
        case Method::wanda: {
            std::vector<float> norms = h->diagonal();
            for (float& v : norms) v = std::sqrt(v);
            prune_wanda(c, w.view(), norms, plan.sparsity, plan.n, plan.m);
            break;
        }
        case Method::magnitude:
            prune_magnitude(c, w.view(), plan.sparsity, plan.n, plan.m);
            break;
        case Method::rtn:
            quantize_rtn(c, w.view(), plan.quant, &codes);
            break;
    }
    if (plan.quantize && plan.method != Method::dense && plan.method != Method::wanda &&
        plan.method != Method::magnitude)
        out.quant = std::move(codes);
    if (h && plan.method != Method::dense) {
        ThreadScope threads(c);
        out.rel_error = relative_reconstruction_error(backend_for(c), h->matrix(), original.view(), w.view());
    }
}

}  // namespace

CompressionReport compress_model(Model& model, const std::vector<std::vector<int>>& calibration,
                                 const Recipe& recipe, const ContextPtr& ctx,
                                 const BlockProgress& progress) {
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
    for (int64_t b = 0; b < n_blocks; ++b) {
        LayerWeights& layer = model.layers[static_cast<size_t>(b)];
        for (const Group& group : kGroups) {
            std::vector<LayerPlan> plans;
            bool needs_h = false;
            for (const char* name : group.linears) {
                plans.push_back(recipe.plan_for("layers." + std::to_string(b) + "." + name));
                needs_h = needs_h || plans.back().needs_calibration();
            }
            std::unique_ptr<Hessian> h;
            if (needs_h) {
                require(!states.empty(), SURGEON_ERR_INVALID_ARGUMENT,
                        "the recipe needs calibration data but none was given");
                ctx->progress("calibrate", 0.0);
                h = collect_hessian(model, layer, states, group.tap, ctx);
            }
            std::map<std::pair<double, int64_t>, std::unique_ptr<Solver>> solvers;
            for (size_t i = 0; i < group.linears.size(); ++i) {
                CompressedLayer out;
                out.name = "layers." + std::to_string(b) + "." + group.linears[i];
                out.plan = plans[i];
                Matrix& w = linear(layer, group.linears[i]);
                out.rows = w.rows;
                out.cols = w.cols;
                const double t0 = now();
                compress_layer(ctx, plans[i], w, h.get(), solvers, out);
                out.seconds = now() - t0;
                out.sparsity = zero_fraction(w);
                report.layers.push_back(std::move(out));
            }
        }
        // The next block sees the outputs of this (now compressed) block.
        for (Matrix& x : states) x = block_forward(model.config, layer, x, nullptr);
        if (progress) progress(b + 1, n_blocks);
    }
    report.seconds = now() - t_start;
    return report;
}

nlohmann::json CompressionReport::to_json() const {
    nlohmann::json layers_json = nlohmann::json::array();
    int64_t params = 0, zeros = 0;
    for (const CompressedLayer& l : layers) {
        nlohmann::json j{{"name", l.name},           {"method", method_name(l.plan.method)},
                         {"rows", l.rows},           {"cols", l.cols},
                         {"sparsity", l.sparsity},   {"seconds", l.seconds}};
        j["bits"] = l.plan.quantize ? nlohmann::json(l.plan.quant.bits) : nlohmann::json(nullptr);
        j["loss"] = l.loss ? nlohmann::json(*l.loss) : nlohmann::json(nullptr);
        j["rel_error"] = l.rel_error ? nlohmann::json(*l.rel_error) : nlohmann::json(nullptr);
        layers_json.push_back(j);
        params += l.rows * l.cols;
        zeros += static_cast<int64_t>(std::llround(l.sparsity * static_cast<double>(l.rows * l.cols)));
    }
    return {{"layers", layers_json},
            {"calibration_sequences", calibration_sequences},
            {"calibration_tokens", calibration_tokens},
            {"linear_params", params},
            {"linear_sparsity", params ? static_cast<double>(zeros) / static_cast<double>(params) : 0.0},
            {"seconds", seconds}};
}

}  // namespace surgeon::model
