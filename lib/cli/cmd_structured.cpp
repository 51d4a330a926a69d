// `surgeon structured`: calibration-free structured pruning of the FFN neurons (PruneNet
// policy or the random / smallest-L2 baselines), optional attention kv-group silencing,
// writes the smaller model and prints a JSON summary.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "cli/args.hpp"
#include "cli/command.hpp"
#include "cli/model_cli.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/output_file.hpp"
#include "io/convert.hpp"
#include "nn/forward.hpp"
#include "io/checkpoint.hpp"
#include "io/model_writer.hpp"
#include "nn/perplexity.hpp"
#include "io/hf_tokenizer.hpp"
#include "compress/model_prune.hpp"

namespace surgeon::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kStructuredUsage =
    "usage: surgeon structured --model M --ratio R --out OUT [options]\n"
    "\n"
    "  --model M            llama2.c .bin or Hugging Face directory\n"
    "  --ratio R            fraction of FFN neurons removed, in [0, 1) (default 0.3)\n"
    "  --out OUT            output: a path ending in .bin writes llama2.c (uniform FFN sizes\n"
    "                       only), anything else a Hugging Face directory (f32)\n"
    "  --method M           prunenet (default) | random | l2 (smallest ||[gate_i, up_i]||)\n"
    "  --policy-out P       save the trained PruneNet policy (JSON)\n"
    "  --policy-in P        reuse a saved policy instead of training (same hidden size)\n"
    "  --seed S             training / random-baseline seed (default 1)\n"
    "  --steps N --samples N --lr X --features N   PruneNet training (150, 8, 0.05, 8)\n"
    "  --reward K           KS reward on the spectra of: matrices (gate, up, down; mean of 3) |\n"
    "                       joint (the three pooled) | maps (down*gate, down*up) | output (the\n"
    "                       FFN map on synthetic N(0,1)*rms_ffn probe inputs)\n"
    "  --restarts N         train N policies (seeds S..S+N-1), keep the best training reward\n"
    "  --anchor X           weight of the KL to the starting (prior) policy (default 300)\n"
    "  --entropy X          entropy bonus weight (0)  --normalize-adv (default) / --no-normalize-adv\n"
    "  --quiet-start (default) / --noisy-start   the dense part of the policy starts silent\n"
    "                       (initial ranking = the prior) or random\n"
    "  --no-prior           start the policy from a random ranking instead of the\n"
    "                       log||gate_i|| + log||up_i|| magnitude ranking\n"
    "  --layer-ratios K     uniform (default) | spectral: blocks whose spectrum degrades\n"
    "                       least are pruned more, same total\n"
    "  --heads R            also remove this fraction of kv-head groups (with their query\n"
    "                       heads) per block, chosen by the o-projection spectrum; needs an\n"
    "                       HF --out (llama2.c cannot hold a head size other than dim/heads)\n"
    "  --eval TEXT          perplexity of the original and pruned models (paragraphs mode)\n"
    "  --range a:b          paragraphs scored (default all)   --seq-len N (default model's)\n"
    "  --tokenizer T        default: tokenizer.json, tok<vocab>.bin or tokenizer.bin beside the model\n"
    "  --speed N            also measure forward tokens/s on N-token sequences\n"
    "  --threads N          threads (0 = all)\n"
    "  --overwrite          replace an existing --out / --policy-out (else refused); outputs are\n"
    "                       written under .partial names and renamed when all are complete\n";

int64_t bytes_on_disk(const std::string& path) {
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) return static_cast<int64_t>(fs::file_size(path, ec));
    int64_t total = 0;
    for (const auto& e : fs::recursive_directory_iterator(path, ec))
        if (e.is_regular_file(ec)) total += static_cast<int64_t>(e.file_size(ec));
    return total;
}

// Forward tokens/s of each model on the same token sequence, alternating the models so
// that both see the same machine load.
std::pair<double, double> tokens_per_second(Backend& be, const model::Model& a, const model::Model& b, int64_t length) {
    std::vector<int> tokens(static_cast<size_t>(length));
    for (int64_t t = 0; t < length; ++t) tokens[t] = static_cast<int>((t * 7919 + 1) % a.config.vocab_size);
    double ta = 0, tb = 0;
    int64_t rounds = 0;
    model::forward(be, a, tokens);  // warm-up
    model::forward(be, b, tokens);
    while (ta + tb < 2.0 || rounds < 3) {
        auto t0 = std::chrono::steady_clock::now();
        model::forward(be, a, tokens);
        ta += seconds_since(t0);
        t0 = std::chrono::steady_clock::now();
        model::forward(be, b, tokens);
        tb += seconds_since(t0);
        ++rounds;
    }
    const double n = static_cast<double>(rounds * length);
    return {n / ta, n / tb};
}

int run_structured(const std::vector<std::string>& argv) {
    if (help_requested(argv, kStructuredUsage)) return 0;
    std::string model_path, out;
    structured::PruneOptions o;
    std::string policy_in, policy_out, eval_text, tokenizer_path;
    model::Range range;
    int64_t seq_len = 0, speed = 0;
    int threads = 0;
    bool overwrite = false;
    try {
        const Args args(argv,
                        {"--model", "--ratio", "--out", "--method", "--policy-out", "--policy-in", "--seed",
                         "--steps", "--samples", "--lr", "--features", "--layer-ratios", "--heads", "--eval", "--reward",
                         "--range", "--seq-len", "--tokenizer", "--speed", "--threads", "--restarts",
                         "--entropy", "--anchor"},
                        {"--no-prior", "--quiet-start", "--noisy-start", "--normalize-adv", "--no-normalize-adv",
                         "--overwrite"});
        model_path = args.require("--model");
        out = args.require("--out");
        o.ratio = args.number("--ratio", 0.3);
        o.method = structured::parse_method(args.get("--method", "prunenet"));
        o.seed = args.seed(1);
        o.train.steps = static_cast<int>(args.integer("--steps", o.train.steps, 1, std::numeric_limits<int>::max()));
        o.train.samples = static_cast<int>(args.integer("--samples", o.train.samples, 1, std::numeric_limits<int>::max()));
        o.train.learning_rate = args.number("--lr", o.train.learning_rate);
        if (!(o.train.learning_rate > 0.0))
            throw std::invalid_argument("--lr must be a finite number > 0, got '" + args.get("--lr") + "'");
        o.train.features = static_cast<int>(args.integer("--features", o.train.features, 1, std::numeric_limits<int>::max()));
        o.train.reward = structured::parse_reward(args.get("--reward", structured::reward_name(o.train.reward)));
        o.train.norm_prior = !args.has("--no-prior");
        o.train.restarts = static_cast<int>(args.integer("--restarts", o.train.restarts, 1, std::numeric_limits<int>::max()));
        o.train.entropy = args.number("--entropy", o.train.entropy);
        o.train.anchor = args.number("--anchor", o.train.anchor);
        if (args.has("--quiet-start")) o.train.quiet_start = true;
        if (args.has("--noisy-start")) o.train.quiet_start = false;
        if (args.has("--normalize-adv")) o.train.normalize_advantage = true;
        if (args.has("--no-normalize-adv")) o.train.normalize_advantage = false;
        const std::string lr = args.get("--layer-ratios", "uniform");
        if (lr != "uniform" && lr != "spectral")
            throw std::invalid_argument("--layer-ratios must be uniform or spectral");
        o.spectral_layer_ratios = lr == "spectral";
        o.head_ratio = args.number("--heads", 0.0);
        policy_in = args.get("--policy-in");
        policy_out = args.get("--policy-out");
        if (!policy_in.empty() && !policy_out.empty())
            throw std::invalid_argument("--policy-in and --policy-out exclude each other");
        if ((!policy_in.empty() || !policy_out.empty()) && o.method != structured::Method::prunenet)
            throw std::invalid_argument("policies belong to --method prunenet");
        eval_text = args.get("--eval");
        if (args.has("--range")) range = model::parse_range(args.get("--range"));
        seq_len = args.seq_len();
        tokenizer_path = args.get("--tokenizer");
        speed = args.integer("--speed", 0, 1, kMaxSeqLen);
        threads = args.threads();
        overwrite = args.has("--overwrite");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "surgeon structured: error: %s\n%s", e.what(), kStructuredUsage);
        return 2;
    }
    const model::ModelFormat format = model::output_format(out);
    StagedOutputs outputs(overwrite);  // existing outputs are refused before any work
    outputs.add(out, model::output_kind(format));
    if (!policy_out.empty()) outputs.add(policy_out, OutputKind::file);
    const auto t0 = std::chrono::steady_clock::now();
    Context ctx;
    ctx.threads = threads;
    model::Model m = model::load_model(model_path);
    if (!policy_in.empty()) o.policy = structured::Policy::load(policy_in);
    const model::Model original = (eval_text.empty() && speed <= 0) ? model::Model{} : m;
    const structured::PruneReport r = structured::prune_model(m, o, ctx);
    if (!policy_out.empty()) r.policy->save(outputs.stage_of(policy_out));
    model::save_model(m, outputs.stage_of(out), {format, model::Dtype::F32, ""});

    nlohmann::ordered_json j;
    j["model"] = model_path;
    j["out"] = out;
    j["method"] = structured::method_name(o.method);
    j["ratio"] = o.ratio;
    j["seed"] = o.seed;
    if (o.method == structured::Method::prunenet) {
        j["policy"] = policy_in.empty() ? "trained" : policy_in;
        if (policy_in.empty()) {
            j["reward"] = structured::reward_name(o.train.reward);
            j["norm_prior"] = o.train.norm_prior;
            j["steps"] = o.train.steps;
            j["samples"] = o.train.samples;
            j["restarts"] = o.train.restarts;
            j["anchor"] = o.train.anchor;
            j["restart_rewards"] = r.train_rewards;
            j["restart_chosen"] = r.train_chosen;
        }
    }
    j["layer_ratios"] = r.layer_ratios;
    j["ffn_sizes"] = r.ffn_sizes;
    if (o.head_ratio > 0) {
        j["kv_groups_removed"] = r.heads_silenced;
        j["params_effective"] = structured::effective_parameters(m);
    }
    j["params_before"] = r.params_before;
    j["params_after"] = r.params_after;
    j["file_bytes_before"] = bytes_on_disk(model_path);
    j["file_bytes"] = bytes_on_disk(outputs.stage_of(out));
    j["train_seconds"] = r.train_seconds;
    j["prune_seconds"] = r.prune_seconds;
    j["seconds"] = seconds_since(t0);
    if (!eval_text.empty()) {
        if (tokenizer_path.empty()) tokenizer_path = model::find_model_tokenizer(model_path, m.config.vocab_size);
        require_arg(!tokenizer_path.empty(), "no tokenizer beside '" + model_path + "': pass --tokenizer");
        const auto tok = model::open_tokenizer(tokenizer_path, m.config.vocab_size);
        const auto seqs = model::paragraph_sequences(*tok, model::read_text_file(eval_text), range,
                                                     seq_len > 0 ? seq_len : m.config.seq_len);
        const auto before = model::evaluate_sequences(backend_for(ctx), original, seqs);
        const auto after = model::evaluate_sequences(backend_for(ctx), m, seqs);
        j["eval_sequences"] = after.sequences;
        j["eval_tokens"] = after.tokens;
        j["perplexity_before"] = before.ppl;
        j["perplexity"] = after.ppl;
        j["eval_seconds"] = after.seconds;
    }
    if (speed > 0) {
        const auto [a, b] = tokens_per_second(backend_for(ctx), original, m, std::min<int64_t>(speed, m.config.seq_len));
        j["tokens_per_second_before"] = a;
        j["tokens_per_second"] = b;
    }
    outputs.commit();
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
}

}  // namespace

SURGEON_COMMAND("structured", "calibration-free structured FFN pruning (PruneNet, random, l2)",
                run_structured);

}  // namespace surgeon::cli
