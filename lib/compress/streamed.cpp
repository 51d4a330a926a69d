#include "compress/streamed.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>

#include "compress/activations.hpp"
#include "compress/block_compress.hpp"
#include "compress/reducer.hpp"
#include "compress/row_budget.hpp"
#include "compress/run_state.hpp"
#include "core/error.hpp"
#include "core/memory_usage.hpp"
#include "nn/fisher.hpp"

namespace surgeon::model {
namespace {

namespace fs = std::filesystem;

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Rows of the embedding and classifier copied per step: 64 MB of fp32 at a time.
int64_t head_chunk_rows(const ModelConfig& c) {
    return std::max<int64_t>(1, (int64_t{64} << 20) / (static_cast<int64_t>(sizeof(float)) * c.dim));
}

// The parts outside the blocks, copied through unchanged.
void copy_head(const ModelSource& source, ModelWriter& writer) {
    const ModelConfig& c = source.config();
    const int64_t chunk = head_chunk_rows(c);
    for (int64_t r0 = 0; r0 < c.vocab_size; r0 += chunk)
        writer.write_embedding_rows(r0, source.embedding_rows(r0, std::min(c.vocab_size, r0 + chunk)));
    if (!c.shared_classifier)
        for (int64_t r0 = 0; r0 < c.vocab_size; r0 += chunk)
            writer.write_classifier_rows(r0, source.classifier_rows(r0, std::min(c.vocab_size, r0 + chunk)));
    writer.write_final_norm(source.final_norm());
}

// Whether some layer needs the dense model as a whole before the first block.
bool needs_dense_model(const ModelSource& source, const Recipe& recipe) {
    for (int64_t b = 0; b < source.n_blocks(); ++b)
        for (const char* name : kLinearNames) {
            const LayerPlan plan = recipe.plan_for("layers." + std::to_string(b) + "." + name);
            if (plan.is_mixed() && (plan.mixed->scope == BudgetScope::model ||
                                    (plan.mixed->allocator == Allocator::error &&
                                     plan.mixed->sensitivity == RowSensitivity::fisher)))
                return true;
        }
    return false;
}

}  // namespace

std::string run_dir_for(const std::string& out, ModelFormat format) {
    return format == ModelFormat::hf ? (fs::path(out) / ".surgeon-run").string() : out + ".surgeon-run";
}

MemoryEstimate estimate_stream_memory(const ModelSource& source, int64_t tokens, int64_t longest,
                                      bool offloaded, bool dense) {
    const ModelConfig& c = source.config();
    const auto f = static_cast<uint64_t>(sizeof(float));
    int64_t ffn = 0;
    for (int64_t h : source.ffn_sizes()) ffn = std::max(ffn, h);
    const auto dim = static_cast<uint64_t>(c.dim), q = static_cast<uint64_t>(c.q_dim()),
               kv = static_cast<uint64_t>(c.kv_dim()), hidden = static_cast<uint64_t>(ffn),
               vocab = static_cast<uint64_t>(c.vocab_size);
    // Routed experts (MoE blocks) and their router come with the block too.
    const auto experts = static_cast<uint64_t>(c.moe.n_experts), expert = static_cast<uint64_t>(c.moe.expert_dim);
    const uint64_t block = dim * (2 * q + 2 * kv) + 3 * dim * hidden + 2 * dim + experts * (3 * dim * expert + dim);
    MemoryEstimate e;
    // The block, plus its largest tensor twice over while it is converted and compressed.
    e.block_weights = f * (block + 2 * std::max(dim * hidden, dim * q));
    // Per token: the state, the attention output, residual and FFN input, the SwiGLU output;
    // plus one sequence's attention scores per worker.
    const uint64_t per_token = f * (3 * dim + q + hidden);
    const auto held = static_cast<uint64_t>(offloaded ? longest : tokens);
    e.activations = per_token * held + f * static_cast<uint64_t>(longest) * static_cast<uint64_t>(longest);
    // Hessian (fp32 and the fp64 statistics), its inverse factor and the solver's copies
    // of the widest layer.
    const uint64_t widest_in = std::max({dim, q, hidden});
    e.solver = 3 * f * widest_in * widest_in + 3 * f * std::max(dim * hidden, dim * q);
    if (dense) e.dense_model = f * (block * static_cast<uint64_t>(c.n_layers) + vocab * dim * (c.shared_classifier ? 1 : 2));
    return e;
}

CompressionReport compress_streamed(const ModelSource& source, ModelWriter* writer,
                                    const std::vector<std::vector<int>>& calibration, const Recipe& recipe,
                                    const ContextPtr& ctx, const StreamOptions& options,
                                    const BlockProgress& progress) {
    require(!recipe.uses(Method::cbq), SURGEON_ERR_INVALID_ARGUMENT,
            "cbq quantizes across blocks: run it with compress_cbq (compress/cbq.hpp)");
    require(source.config().act_bits == 0, SURGEON_ERR_UNSUPPORTED,
            "the model quantizes its activations (" + std::to_string(source.config().act_bits) +
                " bits): calibrate its float original");
    const double t_start = now();
    SingleProcess single;
    Reducer& reducer = options.reducer ? *options.reducer : single;
    const int ranks = reducer.size(), me = reducer.rank();
    const ModelConfig& config = source.config();
    const int64_t n_blocks = source.n_blocks();
    // A run of several ranks keeps one resume state per rank (its share of the activations),
    // and resumes with the same number of ranks only.
    const std::string key = hash_key(options.run_key + "\n" + source.fingerprint() +
                                     (ranks > 1 ? "\nranks " + std::to_string(ranks) : std::string()));
    const std::string run_dir = options.run_dir.empty() || me == 0
                                    ? options.run_dir
                                    : (fs::path(options.run_dir) / ("rank-" + std::to_string(me))).string();
    require_arg(!options.resume || !run_dir.empty(), "a resumed run needs its run directory");

    std::vector<std::vector<int>> sequences;
    int64_t tokens = 0;
    for (const auto& seq : calibration)
        if (!seq.empty()) {
            sequences.push_back(seq);
            tokens += static_cast<int64_t>(seq.size());
        }
    const int64_t total = static_cast<int64_t>(sequences.size());
    const std::pair<int64_t, int64_t> share = share_of(total, me, ranks);
    const int64_t share_first = share.first, share_last = share.second;
    const ActivationStores stores{options.offload_dir.empty() || ranks == 1
                                      ? options.offload_dir
                                      : (fs::path(options.offload_dir) / ("rank-" + std::to_string(me))).string()};
    if (!stores.offload_dir.empty()) fs::create_directories(stores.offload_dir);
    std::unique_ptr<ActivationStore> states = stores.make("states", static_cast<size_t>(share_last - share_first));

    // Layers priced across the model plan on the dense model first (deterministic, so a
    // resumed run plans the same).
    std::optional<OutputFisher> fisher;
    std::optional<RowBudget> row_budget;
    if (needs_dense_model(source, recipe)) {
        const Model dense = materialize(source);
        if (needs_output_fisher(dense, recipe)) {
            ctx->progress("fisher", 0.0);
            fisher = output_fisher(backend_for(*ctx), dense, sequences);
        }
        if (has_model_scope(dense, recipe)) {
            ctx->progress("budget", 0.0);
            std::vector<Matrix> embedded;
            for (const auto& seq : sequences) embedded.push_back(source.embed(seq));
            require(fisher.has_value(), SURGEON_ERR_INVALID_ARGUMENT,
                    "a model-wide budget prices rows by the output Fisher");
            row_budget = plan_row_budget(dense, std::move(embedded), recipe, *fisher, ctx);
        }
    }

    // Every rank has checked the command line and the output (no rank has written yet).
    agree_on_errors(reducer, SURGEON_OK, "");
    RunState state;
    state.key = key;
    run_agreed(reducer, [&] {
        if (options.resume) {
            if (!load_run_state(run_dir, recipe, row_budget ? &*row_budget : nullptr, &state))
                fail(SURGEON_ERR_IO, "no run to resume in '" + run_dir + "'");
            if (state.key != key)
                fail(SURGEON_ERR_IO, "'" + run_dir + "' holds a run of another command line or source "
                                     "(key " + state.key + ", this run " + key + "); remove it to start over");
            require(state.blocks_done >= 0 && state.blocks_done <= n_blocks &&
                        state.report.calibration_sequences == total,
                    SURGEON_ERR_IO, "'" + run_dir + "' holds an inconsistent run state");
            load_run_states(run_dir, state.blocks_done, *states);
            if (options.keep_quant)
                for (int64_t b = 0; b < state.blocks_done; ++b) {
                    std::vector<CompressedLayer*> quantized;
                    const std::string prefix = "layers." + std::to_string(b) + ".";
                    for (CompressedLayer& l : state.report.layers)
                        if (l.name.compare(0, prefix.size(), prefix) == 0 && l.quant) quantized.push_back(&l);
                    load_block_quant(run_dir, b, quantized);
                }
            state.report.resumed_at_block = state.blocks_done;
            if (writer) {
                writer->mark_written_blocks(state.blocks_done);
                copy_head(source, *writer);  // the writer tracks the head in memory only: the same bytes again
            }
        } else {
            for (int64_t i = share_first; i < share_last; ++i)
                states->put(static_cast<size_t>(i - share_first), source.embed(sequences[static_cast<size_t>(i)]));
            state.report.calibration_sequences = total;
            state.report.calibration_tokens = tokens;
            if (writer) copy_head(source, *writer);
            if (!run_dir.empty()) save_run_state(run_dir, state, *states);
        }
    });
    // Every rank resumes from the same block.
    {
        const std::vector<char> blocks(reinterpret_cast<const char*>(&state.blocks_done),
                                       reinterpret_cast<const char*>(&state.blocks_done) + sizeof(int64_t));
        bool same = true;
        for (const std::vector<char>& other : reducer.gather(0, blocks)) same = same && other == blocks;
        agree_on_errors(reducer, same ? SURGEON_OK : SURGEON_ERR_IO,
                        "the ranks' resume states are at different blocks; remove '" + options.run_dir +
                            "' to start over");
    }

    if (progress) progress(state.blocks_done, n_blocks);
    const BlockExtras extras{fisher ? &*fisher : nullptr, row_budget ? &*row_budget : nullptr};
    for (int64_t b = state.blocks_done; b < n_blocks; ++b) {
        const double t0 = now();
        const size_t first = state.report.layers.size();
        {
            LayerWeights layer = source.block(b);
            compress_block(b, config, layer, *states, recipe, extras, stores, ctx, state.report.layers, nullptr,
                           DataShare{&reducer, share_first, total});
            if (writer) writer->write_block(b, layer);
        }
        std::vector<const CompressedLayer*> quantized;
        for (size_t i = first; i < state.report.layers.size(); ++i) {
            CompressedLayer& l = state.report.layers[i];
            if (!options.keep_quant) l.quant.reset();
            else if (l.quant) quantized.push_back(&l);
        }
        if (!run_dir.empty() && options.keep_quant) save_block_quant(run_dir, b, quantized);
        state.report.blocks.push_back({b, now() - t0, peak_rss_bytes()});
        state.blocks_done = b + 1;
        // Every rank finished the block (and wrote it, on rank 0) before any saves its state:
        // a rank that dies leaves every state at the same block.
        if (ranks > 1) agree_on_errors(reducer, SURGEON_OK, "");
        if (!run_dir.empty()) save_run_state(run_dir, state, *states);
        if (progress) progress(b + 1, n_blocks);
    }
    if (writer) writer->finish();
    // Each rank's seconds, to rank 0; the resume states go once every rank is done (rank
    // 0's folder, which holds the others' on a shared file system, last).
    std::error_code ec;
    if (!run_dir.empty() && me != 0) fs::remove_all(run_dir, ec);
    const double mine = now() - t_start;
    std::vector<char> seconds(sizeof mine);
    std::memcpy(seconds.data(), &mine, sizeof mine);
    CompressionReport report = std::move(state.report);
    report.ranks = ranks;
    for (const std::vector<char>& r : reducer.gather(0, seconds)) {
        double v = 0.0;
        std::memcpy(&v, r.data(), sizeof v);
        report.rank_seconds.push_back(v);
    }
    if (!run_dir.empty() && me == 0) fs::remove_all(run_dir, ec);
    // The spilled states go with their store; a rank's own spill folder (empty by then) too.
    states.reset();
    if (ranks > 1 && !stores.offload_dir.empty()) fs::remove(stores.offload_dir, ec);
    if (row_budget) report.row_budget = std::move(row_budget);
    report.seconds = now() - t_start;
    return report;
}

}  // namespace surgeon::model
