// `surgeon compress`: the whole-model pipeline. Calibrate on text, compress every linear
// layer block by block (true-sequential), save a Hugging Face directory (and optionally a
// packed GPTQ checkpoint), optionally evaluate, and print a JSON summary.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.hpp"
#include "cli/model_cli.hpp"
#include "core/context.hpp"
#include "core/error.hpp"
#include "core/memory_usage.hpp"
#include "compress/layer_budget.hpp"
#include "io/checkpoint.hpp"
#include "compress/pipeline.hpp"
#include "compress/streamed.hpp"
#include "io/model_reader.hpp"
#include "io/model_writer.hpp"
#include "compress/recipe.hpp"

namespace surgeon::cli {
namespace {

std::string compress_usage() {
    return std::string(
               "usage: surgeon compress [--model M] [--calib TEXT | --calib-tokens FILE] [--calib-range a:b]\n"
               "                        [method options | --recipe R.json] --out DIR [--format hf|llama2c]\n"
               "                        [--dtype f32|f16|bf16] [--max-shard-size 5GB] [--offload-dir DIR]\n"
               "                        [--resume] [--gptq-out DIR] [--eval TEXT] [--range a:b]\n"
               "\n"
               "  --model M          llama2.c .bin or Hugging Face directory (default: bundled stories260K)\n"
               "  --calib TEXT       calibration text (default: the bundled TinyStories sample)\n"
               "  --calib-range a:b  non-empty paragraphs used, each [BOS] + tokens truncated to the\n"
               "                     context (default 2000:2128); with --calib-tokens, windows used\n"
               "                     (default 0:128, or all when there are fewer)\n"
               "  --calib-tokens F   int32 token ids instead, cut into context-sized windows\n"
               "  --recipe R.json    per-layer methods by name pattern (see docs/recipes.md); the\n"
               "                     method options below become its defaults\n") +
           kMethodFlagsUsage +
           "  --out DIR          compressed model: HF safetensors directory (zeros where pruned,\n"
           "                     dequantized weights), or a llama2.c file with --format llama2c;\n"
           "                     written block by block under .partial names, renamed when done\n"
           "  --dtype D          stored float type (default: the source model's)\n"
           "  --max-shard-size S HF shard size cap, e.g. 5GB (default), 500MB, 2GiB\n"
           "  --offload-dir DIR  keep the calibration activations in files under DIR instead of RAM\n"
           "  --moe-min-tokens N routed experts calibrated on fewer tokens fall back (default 128)\n"
           "  --moe-fallback P   pooled (default: the Hessian of every token reaching the block) or\n"
           "                     rtn (RTN / magnitude pruning without calibration); docs/models.md\n"
           "  --resume           continue an interrupted run into the same --out (same command line\n"
           "                     and source) from its last finished block\n"
           "\n"
           "Memory: the model is read from a memory map one block at a time. RAM holds one block\n"
           "in fp32 (12·dim² + 3·dim·ffn floats for a plain Llama block), the calibration\n"
           "activations (about (4·dim + ffn) floats per calibration token; with --offload-dir, one\n"
           "sequence's worth) and one solver (about 3·ffn² floats). Fisher-weighted and\n"
           "model-wide mixed precision and --layer-budget also hold the dense model in fp32.\n"
           "The estimate is printed at start.\n"
           "\n"
           "  --gptq-out DIR     also write the packed GPTQ checkpoint (qweight/qzeros/scales/g_idx);\n"
           "                     holds the codes (1 byte per weight) and, at the end, the\n"
           "                     compressed model in RAM\n"
           "  --eval TEXT        evaluate perplexity of the compressed model (paragraphs mode)\n"
           "  --range a:b        evaluation paragraphs (default 0:1000)\n"
           "  --mixed A          mixed precision: per-row bit widths by allocator error | budget |\n"
           "                     quantile (needs a quantizing method); the table of where the\n"
           "                     bits went goes to stderr (see docs/mixed-precision.md)\n"
           "  --avg-bits X       target average bits per weight, scales excluded (default 4)\n"
           "  --layer-budget X   one width per gptq layer, chosen from the calibration loss each\n"
           "                     layer's quantization causes, meeting X bits per weight on average\n"
           "                     (--layer-options 2,3,4,5,6,8, --budget-sequences 32); with --mixed,\n"
           "                     rows then mix around their layer's width\n"
           "  --bit-options L    widths to choose from, e.g. 2,3,4,6,8 (the default)\n"
           "  --quantiles L      quantile cut points, e.g. 0.2,0.4,0.6,0.8 (quantile allocator)\n"
           "  --error-model E    rounding (default: grid noise weighted by 1/U_jj²) | solver\n"
           "                     (error allocator: run the solver at every width, exact row errors)\n"
           "  --sensitivity S    error allocator's row weighting: fisher (default: ¼ × output Fisher,\n"
           "                     errors become predicted loss rises) | downstream | layer\n"
           "  --scope S          layer (default: every layer meets --avg-bits) | model (one budget\n"
           "                     for all layers, rows priced in predicted loss across the model)\n"
           "  --threads T        worker threads (default: all)\n"
           "  --quiet            no progress bar\n";
}

// "2,3,4" → [2, 3, 4] (integers or numbers).
template <typename T>
std::vector<T> parse_list(const std::string& flag, const std::string& text) {
    std::vector<T> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        const std::optional<double> v = parse_double(item);
        if (!v) throw std::invalid_argument(flag + " expects a comma-separated list of numbers, got '" + text + "'");
        out.push_back(static_cast<T>(*v));
    }
    return out;
}

// --mixed and its options as the recipe's "mixed" entry (null when --mixed is absent).
nlohmann::json mixed_spec_from_args(const Args& args) {
    const bool any = args.has("--avg-bits") || args.has("--bit-options") || args.has("--quantiles") ||
                     args.has("--error-model") || args.has("--sensitivity") || args.has("--scope");
    if (!args.has("--mixed")) {
        if (any)
            throw std::invalid_argument(
                "--avg-bits, --bit-options, --quantiles, --error-model, --sensitivity and --scope need --mixed");
        return nullptr;
    }
    nlohmann::json spec{{"allocator", args.get("--mixed")}, {"avg_bits", args.number("--avg-bits", 4.0)}};
    if (args.has("--bit-options")) spec["options"] = parse_list<int>("--bit-options", args.get("--bit-options"));
    if (args.has("--quantiles")) spec["quantiles"] = parse_list<double>("--quantiles", args.get("--quantiles"));
    if (args.has("--error-model")) spec["error_model"] = args.get("--error-model");
    if (args.has("--sensitivity")) spec["sensitivity"] = args.get("--sensitivity");
    if (args.has("--scope")) spec["scope"] = args.get("--scope");
    return spec;
}

// Where the bits went, per mixed layer and for the model (stderr: stdout is the JSON).
void print_mixed_table(const model::CompressionReport& report) {
    const auto total = report.mixed_total();
    if (!total) return;
    std::fprintf(stderr, "\nmixed precision (bits per weight; +ovh: with scales and zeros)\n");
    std::fprintf(stderr, "%-14s %-9s %6s %6s %7s  %-34s %s\n", "layer", "allocator", "rows", "bits",
                 "+ovh", "rows at 1..8 bits", "importance min..max");
    auto row = [](const std::string& name, const char* alloc, const MixedStats& s) {
        std::string hist;
        for (int b = 1; b <= 8; ++b) hist += (b > 1 ? " " : "") + std::to_string(s.histogram[b]);
        char imp[64] = "-";
        if (s.has_importance) std::snprintf(imp, sizeof imp, "%.3g..%.3g", s.importance_min, s.importance_max);
        std::fprintf(stderr, "%-14s %-9s %6lld %6.3f %7.3f  %-34s %s\n", name.c_str(), alloc,
                     static_cast<long long>(s.channels), s.avg_bits(), s.avg_bits_with_overhead(),
                     hist.c_str(), imp);
    };
    for (const model::CompressedLayer& l : report.layers)
        if (l.mixed) row(l.name, allocator_name(l.plan.mixed->allocator), *l.mixed);
    row("total", "", *total);
    std::fprintf(stderr, "total: %lld channels, %lld weights, %.4f bits/weight (%.4f with overhead)\n",
                 static_cast<long long>(total->channels), static_cast<long long>(total->weights),
                 total->avg_bits(), total->avg_bits_with_overhead());
    if (report.row_budget)
        std::fprintf(stderr, "model-wide budget: %.4f bits/weight asked, %.4f planned, predicted NLL rise %.4f nats\n",
                     report.row_budget->target_bits, report.row_budget->avg_bits,
                     report.row_budget->predicted_rise);
}

int run_compress(const std::vector<std::string>& argv) {
    if (help_requested(argv, compress_usage())) return 0;
    std::string model_path, tokenizer_path, out, gptq_out, eval_text, recipe_path, dtype_name, offload_dir;
    uint64_t max_shard_bytes = 0;
    bool resume = false;
    model::ModelFormat format = model::ModelFormat::hf;
    SequenceSource calib, eval;
    nlohmann::json spec;
    int threads = 0;
    bool quiet = false;
    std::optional<model::LayerBudgetOptions> layer_budget;
    nlohmann::json moe_options = nlohmann::json::object();  // --moe-min-tokens, --moe-fallback
    try {
        std::set<std::string> with_value = {"--model", "--tokenizer", "--calib", "--calib-tokens",
                                            "--calib-range", "--recipe", "--out", "--format", "--dtype",
                                            "--gptq-out", "--eval", "--range", "--threads", "--seq-len",
                                            "--mixed", "--avg-bits", "--bit-options", "--quantiles",
                                            "--error-model", "--sensitivity", "--scope",
                                            "--layer-budget", "--layer-options",
                                            "--budget-sequences", "--max-shard-size", "--offload-dir",
                                            "--moe-min-tokens", "--moe-fallback"};
        with_value.insert(kMethodValueFlags.begin(), kMethodValueFlags.end());
        std::set<std::string> switches = kMethodSwitches;
        switches.insert("--quiet");
        switches.insert("--resume");
        const Args args(argv, with_value, switches);
        model_path = args.get("--model", bundled_data_dir() + "/stories260K.bin");
        tokenizer_path = args.get("--tokenizer");
        calib.text_path = args.get("--calib", bundled_data_dir() + "/tinystories-valid.txt");
        calib.tokens_path = args.get("--calib-tokens");
        if (!calib.tokens_path.empty()) calib.mode = model::EvalMode::windows;
        calib.range = model::parse_range(args.get("--calib-range", calib.tokens_path.empty() ? "2000:2128" : "0:128"));
        calib.seq_len = args.integer("--seq-len", 0);
        recipe_path = args.get("--recipe");
        spec = method_spec_from_args(args);
        const nlohmann::json mixed = mixed_spec_from_args(args);
        if (!mixed.is_null()) spec["mixed"] = mixed;
        out = args.require("--out");
        format = model::parse_model_format(args.get("--format", "hf"));
        dtype_name = args.get("--dtype");
        gptq_out = args.get("--gptq-out");
        eval_text = args.get("--eval");
        eval.text_path = eval_text;
        eval.range = model::parse_range(args.get("--range", "0:1000"));
        eval.seq_len = calib.seq_len;
        threads = args.threads();
        quiet = args.has("--quiet");
        resume = args.has("--resume");
        offload_dir = args.get("--offload-dir");
        max_shard_bytes = model::parse_byte_size(args.get("--max-shard-size", "5GB"));
        if (args.has("--moe-min-tokens"))
            moe_options["min_tokens"] = args.integer("--moe-min-tokens", 0, 0, int64_t{1} << 40);
        if (args.has("--moe-fallback")) moe_options["fallback"] = args.get("--moe-fallback");
        if (args.has("--layer-budget")) {
            layer_budget.emplace();
            layer_budget->avg_bits = args.number("--layer-budget", 4.0);
            if (args.has("--layer-options"))
                layer_budget->options = parse_list<int>("--layer-options", args.get("--layer-options"));
            layer_budget->sequences = args.integer("--budget-sequences", layer_budget->sequences);
        } else if (args.has("--layer-options") || args.has("--budget-sequences")) {
            throw std::invalid_argument("--layer-options and --budget-sequences need --layer-budget");
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "surgeon compress: error: %s\n%s", e.what(), compress_usage().c_str());
        return 2;
    }

    // The recipe: command-line options are the defaults, the file's rules refine them.
    nlohmann::json recipe_json{{"default", spec}};
    if (!recipe_path.empty()) {
        const model::Recipe file_recipe = model::Recipe::from_file(recipe_path);  // validates
        (void)file_recipe;
        std::ifstream in(recipe_path);
        const nlohmann::json j = nlohmann::json::parse(in);
        if (j.contains("default")) {
            // "sparsity" and "nm" are one choice: the file's replaces the command line's
            // (its default 0.5 included), whichever key each uses.
            const nlohmann::json& file_default = j.at("default");
            if (file_default.is_object() && (file_default.contains("sparsity") || file_default.contains("nm"))) {
                recipe_json["default"].erase("sparsity");
                recipe_json["default"].erase("nm");
            }
            recipe_json["default"].update(file_default);
        }
        if (j.contains("rules")) recipe_json["rules"] = j.at("rules");
        if (j.contains("moe")) recipe_json["moe"] = j.at("moe");
    }
    if (!moe_options.empty()) {
        if (!recipe_json.contains("moe") || !recipe_json["moe"].is_object()) recipe_json["moe"] = nlohmann::json::object();
        recipe_json["moe"].update(moe_options);
    }
    model::Recipe recipe;
    try {
        recipe = model::Recipe::from_json(recipe_json);
    } catch (const nlohmann::json::exception& e) {
        fail(SURGEON_ERR_INVALID_ARGUMENT, std::string("bad method options: ") + e.what());
    }

    const LoadedModel m = load_model_and_tokenizer(model_path, tokenizer_path);
    // Default: the source model's float type in an HF directory, float32 in a llama2.c file.
    const model::Dtype dtype = !dtype_name.empty()             ? model::parse_float_dtype(dtype_name)
                               : format == model::ModelFormat::hf ? m.source_dtype
                                                                  : model::Dtype::F32;
    const auto calibration = build_sequences(m, calib);
    auto ctx = std::make_shared<Context>();
    ctx->threads = threads;
    // A model-level budget first: measured loss rises choose each layer's width.
    std::optional<model::LayerBudget> budget;
    if (layer_budget) {
        budget = model::plan_layer_budget(m.materialize(), calibration, recipe, *layer_budget, ctx);
        for (const auto& rule : model::layer_budget_rules(*budget, recipe)) recipe_json["rules"].push_back(rule);
        recipe = model::Recipe::from_json(recipe_json);
    }

    const std::string run_dir = model::run_dir_for(out, format);
    std::error_code ec;
    if (!resume && std::filesystem::exists(run_dir, ec))
        fail(SURGEON_ERR_IO, "'" + out + "' holds an interrupted run; add --resume to continue it, or remove it");
    if (resume && !std::filesystem::exists(run_dir, ec))
        fail(SURGEON_ERR_IO, "--resume: '" + out + "' holds no interrupted run");
    int64_t tokens = 0, longest = 0;
    for (const auto& seq : calibration) {
        tokens += static_cast<int64_t>(seq.size());
        longest = std::max(longest, static_cast<int64_t>(seq.size()));
    }
    const model::MemoryEstimate mem = model::estimate_stream_memory(
        *m.source, tokens, longest, !offload_dir.empty(), budget.has_value());
    if (!quiet)
        std::fprintf(stderr,
                     "memory estimate: %s (block %s, calibration activations %s%s, solver %s%s)\n",
                     format_bytes(mem.total()).c_str(), format_bytes(mem.block_weights).c_str(),
                     format_bytes(mem.activations).c_str(),
                     offload_dir.empty() ? " in RAM" : (", rest spilled to " + offload_dir).c_str(),
                     format_bytes(mem.solver).c_str(),
                     mem.dense_model ? (", dense model " + format_bytes(mem.dense_model)).c_str() : "");

    model::WriterOptions writer_options;
    writer_options.format = format;
    writer_options.dtype = dtype;
    writer_options.max_shard_bytes = max_shard_bytes;
    writer_options.tokenizer_path = m.tokenizer_path;
    const auto writer = model::ModelWriter::create(out, m.config(), m.source->ffn_sizes(), writer_options, resume);
    model::StreamOptions stream;
    stream.offload_dir = offload_dir;
    stream.run_dir = run_dir;
    stream.resume = resume;
    stream.keep_quant = !gptq_out.empty();
    for (const std::string& a : argv)
        if (a != "--resume" && a != "--quiet") stream.run_key += a + '\n';
    ProgressBar bar("block", !quiet);
    const model::CompressionReport report = model::compress_streamed(
        *m.source, *writer, calibration, recipe, ctx, stream, [&](int64_t done, int64_t total) { bar.update(done, total); });

    print_mixed_table(report);
    nlohmann::json summary = report.to_json();
    if (budget) summary["layer_budget"] = budget->to_json();
    summary["model"] = model_path;
    summary["recipe"] = recipe_json;
    summary["out"] = out;
    summary["files"] = writer->files();
    if (!gptq_out.empty()) {
        std::map<std::string, QuantResult> quantized;
        for (const model::CompressedLayer& l : report.layers)
            if (l.quant) quantized.emplace(l.name, *l.quant);
        require_arg(!quantized.empty(), "--gptq-out needs a quantizing method (gptq, rtn or --bits)");
        require_arg(!report.mixed_total(),
                    "--gptq-out: a packed GPTQ checkpoint holds one bit width per layer; mixed "
                    "precision layers cannot be exported (save --out instead)");
        const model::GptqExportSummary g =
            model::save_gptq_model(model::load_model(out), quantized, gptq_out, m.tokenizer_path);
        summary["gptq_out"] = {{"dir", gptq_out}, {"bits", g.bits}, {"group_size", g.group_size},
                               {"sym", g.sym}, {"desc_act", g.desc_act},
                               {"quantized_layers", g.quantized_layers}};
    }
    if (!eval_text.empty()) {
        const model::PerplexityResult r =
            model::evaluate_sequences(backend_for(*ctx), *model::open_model(out), build_sequences(m, eval));
        summary["eval"] = {{"text", eval_text}, {"sequences", r.sequences}, {"tokens", r.tokens},
                           {"nll", r.nll}, {"ppl", r.ppl}, {"seconds", r.seconds}};
    }
    std::printf("%s\n", summary.dump().c_str());
    return 0;
}

}  // namespace

SURGEON_COMMAND("compress", "compress a whole model (calibrate, prune/quantize, save)", run_compress);

}  // namespace surgeon::cli
