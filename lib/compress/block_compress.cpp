#include "compress/block_compress.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>

#include "compress/bytes.hpp"
#include "compress/layer_compress.hpp"
#include "compress/run_state.hpp"
#include "compress/tree_sum.hpp"
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

    // Runs every sequence up to `target`, passing the input of that level (one T × width
    // matrix per sequence, in order) to `tap` when it is given.
    void advance(Level target, const std::function<void(const Matrix&)>& tap) {
        if (target <= level_) return;
        for (size_t i = 0; i < states_.size(); ++i) advance_one(i, target, tap);
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
    void advance_one(size_t i, Level target, const std::function<void(const Matrix&)>& tap) {
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
            if (tap) tap(attn_in);
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
        if (tap) {
            tap(aux);
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

// The linears of a block, in block order (their owners in a run of several ranks go round
// robin over this order, block after block).
constexpr int kLinearsPerBlock = 7;

std::vector<char> encode_nodes(const std::vector<std::pair<TreeNode, std::vector<double>>>& nodes) {
    ByteWriter w;
    w.i64(static_cast<int64_t>(nodes.size()));
    for (const auto& [node, value] : nodes) {
        w.i64(node.lo);
        w.i64(node.hi);
        w.vec(value);
    }
    return std::move(w.buffer());
}

void decode_nodes(const std::vector<char>& bytes, std::map<TreeNode, std::vector<double>>& out) {
    ByteReader r(bytes);
    const int64_t count = r.i64();
    for (int64_t k = 0; k < count; ++k) {
        TreeNode node;
        node.lo = r.i64();
        node.hi = r.i64();
        out[node] = r.vec<double>();
    }
}

// The message an owner broadcasts for one linear: a status, then either the error message
// or the compressed layer (report entry, codes) and its weights.
std::vector<char> encode_failure(surgeon_status status, const std::string& message) {
    ByteWriter w;
    w.i64(status);
    w.text(message);
    return std::move(w.buffer());
}

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
    if (any) run.advance(at_ffn_in, {});
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

void add_group_leaf(const ContextPtr& ctx, const Matrix& input, const Matrix* swiglu_out, std::vector<double>& sum) {
    Hessian h(ctx, input.cols);
    h.add(input.data.data(), input.rows, input.cols);
    const auto c = static_cast<size_t>(input.cols);
    const size_t length = c * (c + 1) / 2 + 3 * c + 1 + (swiglu_out ? static_cast<size_t>(swiglu_out->cols) : 0);
    const bool add = !sum.empty();
    require(!add || sum.size() == length, SURGEON_ERR_INTERNAL, "a leaf of another length than its tree sum");
    if (!add) sum.resize(length);
    // Each value of the raw state in fp64, added into the sum (the same bits as adding a
    // separately formed leaf), read from the accumulator without a copy of its triangle.
    size_t k = 0;
    auto put = [&](double v) {
        sum[k] = add ? sum[k] + v : v;
        ++k;
    };
    h.for_each_upper([&](float v) { put(static_cast<double>(v)); });
    const ColumnStats stats = h.column_sums();
    for (const auto* v : {&stats.sum_abs, &stats.sum, &stats.sum_sq})
        for (double x : *v) put(x);
    put(static_cast<double>(h.samples()));
    if (swiglu_out) {
        std::vector<double> sq(static_cast<size_t>(swiglu_out->cols), 0.0);
        add_column_squares(*swiglu_out, sq);
        for (double x : sq) put(x);
    }
}

std::vector<double> group_leaf(const ContextPtr& ctx, const Matrix& input, const Matrix* swiglu_out) {
    std::vector<double> leaf;
    add_group_leaf(ctx, input, swiglu_out, leaf);
    return leaf;
}

std::unique_ptr<Hessian> hessian_of_root(const ContextPtr& ctx, int64_t cols, std::vector<double> root,
                                         std::vector<double>& down_sq) {
    HessianState s;
    s.cols = cols;
    const auto c = static_cast<size_t>(cols), tri = c * (c + 1) / 2;
    require(root.size() >= tri + 3 * c + 1, SURGEON_ERR_INTERNAL, "a Hessian sum of the wrong length");
    s.upper.resize(tri);
    for (size_t i = 0; i < tri; ++i) s.upper[i] = static_cast<float>(root[i]);
    s.stats.sum_abs.assign(root.begin() + tri, root.begin() + tri + c);
    s.stats.sum.assign(root.begin() + tri + c, root.begin() + tri + 2 * c);
    s.stats.sum_sq.assign(root.begin() + tri + 2 * c, root.begin() + tri + 3 * c);
    s.samples = static_cast<int64_t>(root[tri + 3 * c]);
    down_sq.assign(root.begin() + tri + 3 * c + 1, root.end());
    std::vector<double>().swap(root);  // before the accumulator is formed
    return Hessian::from_state(ctx, s, "the calibration Hessian");
}

void compress_block(int64_t b, const ModelConfig& config, LayerWeights& layer, ActivationStore& states,
                    const Recipe& recipe, const BlockExtras& extras, const ActivationStores& stores,
                    const ContextPtr& ctx, std::vector<CompressedLayer>& out, BlockTimings* timings,
                    const DataShare& share) {
    BlockTimings local;
    BlockTimings& times = timings ? *timings : local;
    SingleProcess single;
    Reducer& reducer = share.reducer ? *share.reducer : single;
    const int64_t first = share.reducer ? share.first : 0;
    const int64_t total = share.reducer ? share.total : static_cast<int64_t>(states.size());
    const int ranks = reducer.size(), me = reducer.rank();
    const std::string prefix = "layers." + std::to_string(b) + ".";
    // A Mixture-of-Experts block: attention as in any block, then the FFN expert by expert.
    const bool moe = !layer.experts.empty();
    require(!moe || ranks == 1, SURGEON_ERR_UNSUPPORTED,
            "a data-parallel run does not take Mixture-of-Experts blocks (block " + std::to_string(b) +
                "): run it as one process");
    Backend& be = backend_for(*ctx);
    BlockRun run(config, layer, states, stores.make("block" + std::to_string(b), states.size()), be, times);
    int64_t linear_index = b * kLinearsPerBlock;
    for (const Group& group : kGroups) {
        if (moe && (group.tap == LinearInput::ffn_in || group.tap == LinearInput::down_in)) continue;
        const size_t n = group.linears.size();
        std::vector<LayerPlan> plans;
        bool needs_h = false, wants_down_sq = false;
        for (const char* name : group.linears) {
            plans.push_back(layer_plan(recipe, prefix + name, extras.row_budget));
            const LayerPlan& plan = plans.back();
            needs_h = needs_h || plan.needs_calibration();
            wants_down_sq = wants_down_sq || reads_down_sq(plan);
        }
        std::vector<int> owner(n, me);
        for (size_t i = 0; i < n; ++i, ++linear_index)
            if (needs_h) owner[i] = static_cast<int>(linear_index % ranks);
        std::unique_ptr<Hessian> h;
        std::vector<double> down_sq;
        std::exception_ptr owner_error;  // an owner's failure to form the Hessian, sent with its results
        if (needs_h) {
            require(total > 0, SURGEON_ERR_INVALID_ARGUMENT, "the recipe needs calibration data but none was given");
            ctx->progress("calibrate", 0.0);
            const int64_t cols = linear(layer, group.linears[0]).cols;
            const bool down = wants_down_sq && group.tap == LinearInput::ffn_in;
            // This rank's sequences, summed into the nodes of the tree that cover them.
            std::vector<std::pair<TreeNode, std::vector<double>>> mine;
            run_agreed(reducer, [&] {
                TreeAccumulator acc(total, first, first + static_cast<int64_t>(states.size()));
                run.advance(level_of(group.tap), [&](const Matrix& input) {
                    const Matrix d = down ? swiglu(be, layer, input) : Matrix();
                    // A right leaf goes straight into its left sibling: one n × n fp64 sum fewer.
                    if (std::vector<double>* sum = acc.next_joins()) {
                        add_group_leaf(ctx, input, down ? &d : nullptr, *sum);
                        acc.push_added();
                    } else {
                        acc.push(group_leaf(ctx, input, down ? &d : nullptr));
                    }
                });
                mine = acc.take();
            });
            // Every owner of a linear of the group receives all cover nodes and sums the root (one
            // process holds the root itself).
            if (ranks == 1) {
                try {
                    std::map<TreeNode, std::vector<double>> nodes;
                    for (auto& [node, value] : mine) nodes.emplace(node, std::move(value));
                    mine.clear();
                    h = hessian_of_root(ctx, cols, tree_root(total, std::move(nodes)), down_sq);
                } catch (...) {
                    owner_error = std::current_exception();
                }
            } else {
                const std::vector<char> part = encode_nodes(mine);
                mine.clear();
                std::vector<int> owners(owner);
                std::sort(owners.begin(), owners.end());
                owners.erase(std::unique(owners.begin(), owners.end()), owners.end());
                for (int o : owners) {
                    std::vector<std::vector<char>> parts = reducer.gather(o, part);
                    if (me != o) continue;
                    try {
                        std::map<TreeNode, std::vector<double>> nodes;
                        for (std::vector<char>& p : parts) {
                            decode_nodes(p, nodes);
                            std::vector<char>().swap(p);
                        }
                        h = hessian_of_root(ctx, cols, tree_root(total, std::move(nodes)), down_sq);
                    } catch (...) {
                        owner_error = std::current_exception();
                    }
                }
            }
        }
        // Each rank compresses the linears it owns (all of them in one process, and every
        // rank all of an uncalibrated group); the results go out in block order.
        const double t_solve = now();
        std::vector<std::vector<char>> results(n);
        std::vector<std::optional<CompressedLayer>> kept(n);  // one process: the results themselves
        try {
            if (owner_error) std::rethrow_exception(owner_error);
            SolverCache solvers;
            // When only OBS solvers read the Hessian (SparseGPT, GPTQ without mixed precision),
            // they are built now and the accumulator released: each keeps its own copy of H,
            // and the layer's peak holds two n × n matrices instead of three.
            if (h && std::all_of(plans.begin(), plans.end(), reads_only_the_solver)) {
                for (size_t i = 0; i < n; ++i)
                    if (owner[i] == me && plans[i].method != Method::dense) solver_for(solvers, ctx, *h, plans[i]);
                h.reset();
            }
            for (size_t i = 0; i < n; ++i) {
                if (owner[i] != me) continue;
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
                ByteWriter message;
                message.i64(SURGEON_OK);
                if (ranks == 1) {  // nothing to send: the layer stays as it is
                    kept[i] = std::move(c);
                } else {
                    encode_layer(message, c);
                    if (needs_h) message.vec(w.data);  // the other ranks' copy of the weights
                }
                results[i] = std::move(message.buffer());
            }
        } catch (...) {
            const auto [status, message] = outcome_of(std::current_exception());
            for (size_t i = 0; i < n; ++i)
                if (owner[i] == me && results[i].empty()) results[i] = encode_failure(status, message);
        }
        h.reset();
        for (size_t i = 0; i < n; ++i) {
            if (ranks > 1 && needs_h) reducer.broadcast(owner[i], results[i]);
            ByteReader r(results[i]);
            const auto status = static_cast<surgeon_status>(r.i64());
            if (status != SURGEON_OK) {
                const std::string message = r.text();
                throw JobError(status, ranks > 1 ? "rank " + std::to_string(owner[i]) + ": " + message : message,
                               owner[i]);
            }
            CompressedLayer c = kept[i] ? std::move(*kept[i]) : decode_layer(r, recipe, extras.row_budget);
            if (owner[i] != me) r.vec_into(linear(layer, group.linears[i]).data);
            c.plan = plans[i];
            out.push_back(std::move(c));
            std::vector<char>().swap(results[i]);
        }
        times.compress += now() - t_solve;
    }
    if (moe) compress_moe(b, config, layer, run, recipe, extras, ctx, out, times);
    run.advance(at_output, {});
}

}  // namespace surgeon::model
