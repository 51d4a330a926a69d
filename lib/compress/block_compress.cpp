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
                    aux = ops::rmsnorm(x, layer_.rms_ffn, config_.norm_eps);
                    break;
                case at_down_in:
                    aux = swiglu(be_, layer_, aux);
                    break;
                case at_output:
                    ops::apply_linear(be_, aux.data.data(), T, aux.cols, layer_.w2, x.data.data(), config_.dim, 1.0f);
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

void compress_block(int64_t b, const ModelConfig& config, LayerWeights& layer, ActivationStore& states,
                    const Recipe& recipe, const BlockExtras& extras, const ActivationStores& stores,
                    const ContextPtr& ctx, std::vector<CompressedLayer>& out, BlockTimings* timings) {
    BlockTimings local;
    BlockTimings& times = timings ? *timings : local;
    const std::string prefix = "layers." + std::to_string(b) + ".";
    BlockRun run(config, layer, states, stores.make("block" + std::to_string(b), states.size()),
                 backend_for(*ctx), times);
    for (const Group& group : kGroups) {
        std::vector<LayerPlan> plans;
        bool needs_h = false, wants_down_sq = false;
        for (const char* name : group.linears) {
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
        const double t_solve = now();
        SolverCache solvers;
        // When only OBS solvers read the Hessian (SparseGPT, GPTQ without mixed precision),
        // they are built now and the accumulator released: each keeps its own copy of H,
        // and the layer's peak holds two n × n matrices instead of three.
        if (h && std::all_of(plans.begin(), plans.end(), reads_only_the_solver)) {
            for (const LayerPlan& plan : plans)
                if (plan.method != Method::dense) solver_for(solvers, ctx, *h, plan);
            h.reset();
        }
        for (size_t i = 0; i < group.linears.size(); ++i) {
            CompressedLayer c;
            c.name = prefix + group.linears[i];
            c.plan = plans[i];
            Matrix& w = linear(layer, group.linears[i]);
            c.rows = w.rows;
            c.cols = w.cols;
            const double t0 = now();
            const LayerSite site{&config, &layer, group.linears[i], down_sq.empty() ? nullptr : &down_sq,
                                 extras.fisher ? &extras.fisher->of(c.name) : nullptr};
            compress_layer(ctx, plans[i], w, h.get(), solvers, site, c);
            c.seconds = now() - t0;
            c.sparsity = zero_fraction(w);
            out.push_back(std::move(c));
        }
        times.compress += now() - t_solve;
    }
    run.advance(at_output, nullptr, nullptr);
}

}  // namespace surgeon::model
