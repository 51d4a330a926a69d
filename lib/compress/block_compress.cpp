#include "compress/block_compress.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "compress/layer_compress.hpp"
#include "core/backend.hpp"
#include "layer/hessian/hessian.hpp"
#include "layer/quant/mixed.hpp"
#include "nn/fisher.hpp"
#include "nn/forward.hpp"
#include "nn/ops.hpp"

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

// How far a calibration sequence has run through the block. Each level's matrices are
// what the next step reads: the level of a group's input is where its Hessian is taken.
enum Level : int {
    at_input = 0,    // states: x
    at_attn_in = 1,  // states: x (attn_in = rmsnorm(x) is recomputed, not kept)
    at_attn_out = 2, // states: x, scratch: the attention output (input of wo)
    at_ffn_in = 3,   // states: mid = x + attention·woᵀ, scratch: rmsnorm(mid) (input of w1, w3)
    at_down_in = 4,  // states: mid, scratch: the SwiGLU output (input of w2)
    at_output = 5,   // states: the block output
};

Level level_of(LinearInput tap) { return static_cast<Level>(static_cast<int>(tap) + 1); }

// A mixed layer whose row errors are priced by the downstream proxy reads Σ h² of the
// SwiGLU output (w1/w3 rows).
bool reads_down_sq(const LayerPlan& plan) {
    return plan.is_mixed() && plan.mixed->allocator == Allocator::error &&
           plan.mixed->sensitivity == RowSensitivity::downstream;
}

// The calibration sequences of one block, advanced level by level with the block's
// weights as they are when a step runs.
class BlockRun {
public:
    BlockRun(const ModelConfig& config, const LayerWeights& layer, ActivationStore& states,
             std::unique_ptr<ActivationStore> scratch, Backend& be, BlockTimings& times)
        : config_(config), layer_(layer), states_(states), scratch_(std::move(scratch)), be_(be), times_(times) {}

    // Runs every sequence up to `target`, adding the input of that level to h (and, at
    // the FFN input, Σ h² of the SwiGLU output with the current w1/w3 to down_sq).
    void advance(Level target, Hessian* h, std::vector<double>* down_sq) {
        if (target <= level_) return;
        for (size_t i = 0; i < states_.size(); ++i) advance_one(i, target, h, down_sq);
        level_ = target;
    }

    // Calls fn(i, ffn_in) for every sequence i with its FFN input (the block must be at
    // the FFN input level), the seconds counted as Hessian work.
    template <typename Fn>
    void for_each_ffn_in(Fn&& fn) {
        require(level_ == at_ffn_in, SURGEON_ERR_INTERNAL, "the block is not at its FFN input");
        for (size_t i = 0; i < states_.size(); ++i) {
            double t = now();
            const Matrix ffn_in = scratch_->read(i);
            times_.io += now() - t;
            t = now();
            fn(i, ffn_in);
            times_.hessian += now() - t;
        }
    }

    Backend& backend() { return be_; }
    size_t sequences() const { return states_.size(); }

private:
    void advance_one(size_t i, Level target, Hessian* h, std::vector<double>* down_sq) {
        double t = now();
        auto lap = [&](double& slot) {
            const double t1 = now();
            slot += t1 - t;
            t = t1;
        };
        if (target == at_attn_in) {  // the states stay as they are
            const Matrix x = states_.read(i);
            lap(times_.io);
            const Matrix attn_in = ops::rmsnorm(x, layer_.rms_att, config_.norm_eps);
            lap(times_.forward);
            if (h) h->add(attn_in.data.data(), attn_in.rows, attn_in.cols);
            lap(times_.hessian);
            return;
        }
        Matrix x = states_.take(i);
        Matrix aux = level_ >= at_attn_out ? scratch_->take(i) : Matrix();
        lap(times_.io);
        const int64_t T = x.rows;
        for (int l = level_; l < target; ++l) {
            switch (l + 1) {
                case at_attn_in:
                    break;
                case at_attn_out:
                    aux = attention_heads(be_, config_, layer_, ops::rmsnorm(x, layer_.rms_att, config_.norm_eps));
                    break;
                case at_ffn_in:
                    ops::apply_linear(be_, aux.data.data(), T, aux.cols, layer_.wo, x.data.data(), config_.dim, 1.0f);
                    ops::add_bias(x, layer_.bo);
                    aux = ops::rmsnorm(x, layer_.rms_ffn, config_.norm_eps);
                    break;
                case at_down_in:  // a MoE block keeps the FFN input: its experts read it
                    if (layer_.experts.empty()) aux = swiglu(be_, layer_, aux);
                    break;
                case at_output:
                    if (layer_.experts.empty())
                        ops::apply_linear(be_, aux.data.data(), T, aux.cols, layer_.w2, x.data.data(), config_.dim, 1.0f);
                    else
                        ffn_add(be_, config_, layer_, aux, x);
                    aux = Matrix();
                    break;
            }
        }
        lap(times_.forward);
        if (h) {
            h->add(aux.data.data(), aux.rows, aux.cols);
            lap(times_.hessian);
        }
        if (down_sq) {
            const Matrix d = swiglu(be_, layer_, aux);
            lap(times_.forward);
            add_column_squares(d, *down_sq);
            lap(times_.hessian);
        }
        states_.put(i, std::move(x));
        if (target < at_output) scratch_->put(i, std::move(aux));
        lap(times_.io);
    }

    const ModelConfig& config_;
    const LayerWeights& layer_;
    ActivationStore& states_;
    std::unique_ptr<ActivationStore> scratch_;
    Backend& be_;
    BlockTimings& times_;
    int level_ = at_input;
};

}  // namespace

namespace {

// Whether compress_layer reads the Hessian of this plan only through its solver.
bool reads_only_the_solver(const LayerPlan& plan) {
    return plan.method == Method::dense ||
           ((plan.method == Method::sparsegpt || plan.method == Method::gptq) && !plan.is_mixed());
}

}  // namespace

LayerPlan layer_plan(const Recipe& recipe, const std::string& layer_name, const RowBudget* row_budget) {
    LayerPlan plan = recipe.plan_for(layer_name);
    if (plan.is_mixed() && plan.mixed->scope == BudgetScope::model) {
        require(row_budget != nullptr, SURGEON_ERR_INTERNAL, "no model-wide budget for layer '" + layer_name + "'");
        plan.mixed->avg_bits = row_budget->layer_avg_bits(layer_name);
    }
    return plan;
}

namespace {

// Compresses the linears `names` of `layer` (one group, reading one input) by `plans`
// with the Hessian `h` (owned: released once OBS solvers hold their copies) or `shared`
// (borrowed: kept for later groups). Appends one CompressedLayer per linear.
void compress_linears(const std::string& prefix, const ModelConfig& config, LayerWeights& layer,
                      const std::vector<std::string>& names, const std::vector<LayerPlan>& plans,
                      std::unique_ptr<Hessian> h, const Hessian* shared, const std::vector<double>& down_sq,
                      const BlockExtras& extras, const ContextPtr& ctx, std::vector<CompressedLayer>& out,
                      BlockTimings& times) {
    const double t_solve = now();
    SolverCache solvers;
    const Hessian* hessian = h ? h.get() : shared;
    // When only OBS solvers read the Hessian (SparseGPT, GPTQ without mixed precision),
    // they are built now and an owned accumulator released: each keeps its own copy of H,
    // and the layer's peak holds two n × n matrices instead of three.
    if (hessian && std::all_of(plans.begin(), plans.end(), reads_only_the_solver)) {
        for (const LayerPlan& plan : plans)
            if (plan.method != Method::dense) solver_for(solvers, ctx, *hessian, plan);
        if (h) {
            h.reset();
            hessian = nullptr;
        }
    }
    for (size_t i = 0; i < names.size(); ++i) {
        CompressedLayer c;
        c.name = prefix + names[i];
        c.plan = plans[i];
        Matrix& w = linear(layer, names[i]);
        c.rows = w.rows;
        c.cols = w.cols;
        const double t0 = now();
        const LayerSite site{&config, &layer, names[i], down_sq.empty() ? nullptr : &down_sq,
                             extras.fisher ? &extras.fisher->of(c.name) : nullptr};
        compress_layer(ctx, plans[i], w, hessian, solvers, site, c);
        c.seconds = now() - t0;
        c.sparsity = zero_fraction(w);
        out.push_back(std::move(c));
    }
    times.compress += now() - t_solve;
}

// The plan an expert starved of calibration tokens gets under the "rtn" fallback: a
// quantizing plan becomes RTN at its bits, a pruning plan magnitude pruning at its
// sparsity; a joint (pruning and quantizing) plan keeps the pooled Hessian.
bool rtn_fallback(LayerPlan& plan) {
    if (!plan.needs_calibration()) return true;
    const bool prunes = plan.sparsity > 0.0 || plan.n > 0;
    if (plan.quantize && !prunes && !plan.is_mixed()) {
        plan.method = Method::rtn;
        return true;
    }
    if (!plan.quantize && prunes) {
        plan.method = Method::magnitude;
        return true;
    }
    return false;
}

// The FFN of a MoE block, in the order it computes: the shared expert's [w1, w3] then w2
// on every token, then each routed expert's [w1, w3] then w2 on the tokens the (dense)
// router sends to it, each Hessian from the block's FFN input as it is after attention.
void compress_moe(int64_t b, const ModelConfig& config, LayerWeights& layer, BlockRun& run, const Recipe& recipe,
                  const BlockExtras& extras, const ContextPtr& ctx, std::vector<CompressedLayer>& out,
                  BlockTimings& times) {
    const std::string prefix = "layers." + std::to_string(b) + ".";
    const MoeOptions& moe = recipe.moe();
    auto plans_of = [&](const std::vector<std::string>& names, bool& needs_h) {
        std::vector<LayerPlan> plans;
        for (const std::string& n : names) {
            plans.push_back(layer_plan(recipe, prefix + n, extras.row_budget));
            needs_h = needs_h || plans.back().needs_calibration();
        }
        return plans;
    };
    const int64_t E = static_cast<int64_t>(layer.experts.size());
    bool any = false;
    std::vector<std::vector<std::string>> names;  // per group: shared [w1 w3] [w2], then per expert
    if (layer.w1.rows > 0) {
        names.push_back({"w1", "w3"});
        names.push_back({"w2"});
    }
    for (int64_t e = 0; e < E; ++e) {
        names.push_back({expert_linear_name(e, "w1"), expert_linear_name(e, "w3")});
        names.push_back({expert_linear_name(e, "w2")});
    }
    std::vector<std::vector<LayerPlan>> plans;
    for (const auto& group : names) plans.push_back(plans_of(group, any));
    if (any) require(run.sequences() > 0, SURGEON_ERR_INVALID_ARGUMENT, "the recipe needs calibration data but none was given");
    if (any) run.advance(at_ffn_in, nullptr, nullptr);
    Backend& be = run.backend();

    // Routing of every sequence (the router is kept dense, so it does not change).
    std::vector<std::vector<std::vector<int64_t>>> rows(static_cast<size_t>(E));  // [expert][sequence]
    std::vector<int64_t> tokens(static_cast<size_t>(E), 0);
    if (any)
        run.for_each_ffn_in([&](size_t, const Matrix& ffn_in) {
            const Routing r = route(be, config, layer, ffn_in);
            for (int64_t e = 0; e < E; ++e) {
                rows[static_cast<size_t>(e)].push_back(routed_rows(r, e));
                tokens[static_cast<size_t>(e)] += static_cast<int64_t>(rows[static_cast<size_t>(e)].back().size());
            }
        });
    // The Hessian of `cols` columns from f(i, ffn_in) over the sequences.
    auto hessian_of = [&](int64_t cols, auto&& f) {
        auto h = std::make_unique<Hessian>(ctx, cols);
        run.for_each_ffn_in([&](size_t i, const Matrix& ffn_in) {
            const Matrix x = f(i, ffn_in);
            if (x.rows > 0) h->add(x.data.data(), x.rows, x.cols);
        });
        return h;
    };
    std::unique_ptr<Hessian> pooled_in;  // every token's FFN input, for starved experts
    const std::vector<double> no_down_sq;
    size_t g = 0;
    if (layer.w1.rows > 0) {
        ctx->progress("calibrate", 0.0);
        bool needs13 = false, needs2 = false;
        for (const LayerPlan& p : plans[0]) needs13 = needs13 || p.needs_calibration();
        for (const LayerPlan& p : plans[1]) needs2 = needs2 || p.needs_calibration();
        if (needs13) pooled_in = hessian_of(config.dim, [](size_t, const Matrix& x) { return x; });
        compress_linears(prefix, config, layer, names[0], plans[0], nullptr, pooled_in.get(), no_down_sq, extras, ctx,
                         out, times);
        std::unique_ptr<Hessian> h2;
        if (needs2)
            h2 = hessian_of(layer.w1.rows, [&](size_t, const Matrix& x) { return swiglu(be, layer.w1, layer.w3, x); });
        compress_linears(prefix, config, layer, names[1], plans[1], std::move(h2), nullptr, no_down_sq, extras, ctx,
                         out, times);
        g = 2;
    }
    for (int64_t e = 0; e < E; ++e, g += 2) {
        const Expert& x = layer.experts[static_cast<size_t>(e)];
        const auto& mine = rows[static_cast<size_t>(e)];
        const size_t first = out.size();
        std::string fallback;
        bool needs13 = false, needs2 = false;
        for (const LayerPlan& p : plans[g]) needs13 = needs13 || p.needs_calibration();
        for (const LayerPlan& p : plans[g + 1]) needs2 = needs2 || p.needs_calibration();
        const bool starved = any && tokens[static_cast<size_t>(e)] < moe.min_tokens && (needs13 || needs2);
        bool pooled = false;
        if (starved) {
            // rtn applies when every plan of the expert has a calibration-free form.
            bool all_rtn = moe.fallback == MoeFallback::rtn;
            std::vector<LayerPlan> w13 = plans[g], w2 = plans[g + 1];
            for (auto* group : {&w13, &w2})
                for (LayerPlan& p : *group) all_rtn = all_rtn && rtn_fallback(p);
            if (all_rtn) {
                plans[g] = std::move(w13);
                plans[g + 1] = std::move(w2);
            }
            fallback = all_rtn ? "rtn" : "pooled";
            pooled = !all_rtn;
            needs13 = needs2 = false;
            for (const LayerPlan& p : plans[g]) needs13 = needs13 || p.needs_calibration();
            for (const LayerPlan& p : plans[g + 1]) needs2 = needs2 || p.needs_calibration();
        }
        // The FFN input rows this expert is calibrated on: its own, or every token.
        auto input_of = [&](size_t i, const Matrix& ffn_in) { return pooled ? ffn_in : gather_rows(ffn_in, mine[i]); };
        std::unique_ptr<Hessian> h13;
        const Hessian* shared13 = nullptr;
        if (needs13) {
            ctx->progress("calibrate", 0.0);
            if (pooled) {
                if (!pooled_in) pooled_in = hessian_of(config.dim, [](size_t, const Matrix& m) { return m; });
                shared13 = pooled_in.get();
            } else {
                h13 = hessian_of(config.dim, input_of);
            }
        }
        compress_linears(prefix, config, layer, names[g], plans[g], std::move(h13), shared13, no_down_sq, extras, ctx,
                         out, times);
        std::unique_ptr<Hessian> h2;
        if (needs2)
            h2 = hessian_of(x.w1.rows, [&](size_t i, const Matrix& ffn_in) {
                return swiglu(be, x.w1, x.w3, input_of(i, ffn_in));
            });
        compress_linears(prefix, config, layer, names[g + 1], plans[g + 1], std::move(h2), nullptr, no_down_sq, extras,
                         ctx, out, times);
        for (size_t k = first; k < out.size(); ++k) {
            if (any) out[k].routed_tokens = tokens[static_cast<size_t>(e)];
            out[k].fallback = fallback;
        }
    }
}

}  // namespace

void compress_block(int64_t b, const ModelConfig& config, LayerWeights& layer, ActivationStore& states,
                    const Recipe& recipe, const BlockExtras& extras, const ActivationStores& stores,
                    const ContextPtr& ctx, std::vector<CompressedLayer>& out, BlockTimings* timings) {
    BlockTimings local;
    BlockTimings& times = timings ? *timings : local;
    const std::string prefix = "layers." + std::to_string(b) + ".";
    const bool moe = !layer.experts.empty();
    BlockRun run(config, layer, states, stores.make("block" + std::to_string(b), states.size()),
                 backend_for(*ctx), times);
    for (const Group& group : kGroups) {
        if (moe && (group.tap == LinearInput::ffn_in || group.tap == LinearInput::down_in)) continue;
        std::vector<LayerPlan> plans;
        std::vector<std::string> names;
        bool needs_h = false, wants_down_sq = false;
        for (const char* name : group.linears) {
            names.push_back(name);
            plans.push_back(layer_plan(recipe, prefix + name, extras.row_budget));
            const LayerPlan& plan = plans.back();
            needs_h = needs_h || plan.needs_calibration();
            wants_down_sq = wants_down_sq || reads_down_sq(plan);
        }
        std::unique_ptr<Hessian> h;
        std::vector<double> down_sq;
        if (needs_h) {
            require(states.size() > 0, SURGEON_ERR_INVALID_ARGUMENT,
                    "the recipe needs calibration data but none was given");
            ctx->progress("calibrate", 0.0);
            const Matrix& w = linear(layer, group.linears[0]);
            h = std::make_unique<Hessian>(ctx, w.cols);
            run.advance(level_of(group.tap), h.get(),
                        wants_down_sq && group.tap == LinearInput::ffn_in ? &down_sq : nullptr);
        }
        compress_linears(prefix, config, layer, names, plans, std::move(h), nullptr, down_sq, extras, ctx, out, times);
    }
    if (moe) compress_moe(b, config, layer, run, recipe, extras, ctx, out, times);
    run.advance(at_output, nullptr, nullptr);
}

}  // namespace surgeon::model
