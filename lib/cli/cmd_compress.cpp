// `surgeon compress`: the whole-model pipeline. Calibrate on text, compress every linear
// layer block by block (true-sequential, streamed), or window by window for cbq (the model
// in RAM), save a Hugging Face directory (and optionally packed checkpoints), optionally
// evaluate, and print a JSON summary.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.hpp"
#include "cli/job.hpp"
#include "cli/model_cli.hpp"
#include "core/context.hpp"
#include "core/error.hpp"
#include "core/memory_usage.hpp"
#include "core/output_file.hpp"
#include "compress/cbq.hpp"
#include "compress/export_plan.hpp"
#include "compress/gguf_plan.hpp"
#include "compress/layer_budget.hpp"
#include "io/checkpoint.hpp"
#include "io/gguf.hpp"
#include "compress/pipeline.hpp"
#include "compress/streamed.hpp"
#include "io/model_reader.hpp"
#include "io/model_writer.hpp"
#include "io/quant_export.hpp"
#include "compress/recipe.hpp"

namespace surgeon::cli {
namespace {

std::string compress_usage() {
    return std::string(
               "usage: surgeon compress [--model M] [--calib TEXT | --calib-tokens FILE] [--calib-range a:b]\n"
               "                        [method options | --recipe R.json] --out DIR [--format hf|llama2c]\n"
               "                        [--dtype f32|f16|bf16] [--max-shard-size 5GB] [--offload-dir DIR]\n"
               "                        [--resume] [--gptq-out DIR [--gptq-format v1|v2]] [--ct-out DIR]\n"
               "                        [--gguf-out FILE] [--eval TEXT] [--range a:b]\n"
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
           "                     assembled under OUT.partial (written block by block) and renamed\n"
           "                     when every output is complete; an existing OUT is refused unless\n"
           "                     --overwrite (replaced whole)\n"
           "  --dtype D          stored float type (default: the source model's)\n"
           "  --max-shard-size S HF shard size cap, e.g. 5GB (default), 500MB, 2GiB\n"
           "  --offload-dir DIR  keep the calibration activations in files under DIR (created when\n"
           "                     missing) instead of RAM\n"
           "  --moe-min-tokens N routed experts calibrated on fewer tokens fall back (default 128)\n"
           "  --moe-fallback P   pooled (default: the Hessian of every token reaching the block) or\n"
           "                     rtn (RTN / magnitude pruning without calibration); docs/models.md\n"
           "  --resume           continue an interrupted run into the same --out (same command line\n"
           "                     and source) from its last finished block (kept in OUT.partial)\n"
           "  --overwrite        replace existing --out, --gptq-out, --ct-out, --gguf-out\n"
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
           "  --gptq-format F    v1 (checkpoint_format \"gptq\": AutoGPTQ, GPTQModel when symmetric,\n"
           "                     transformers) or v2 (\"gptq_v2\": GPTQModel, transformers with\n"
           "                     gptqmodel); default v1 when every layer is symmetric, else v2\n"
           "  --ct-out DIR       also write a compressed-tensors \"pack-quantized\" checkpoint (vLLM)\n"
           "  --gguf-out FILE    also write a llama.cpp GGUF: gptq/rtn --bits 4 --group 32 (symmetric)\n"
           "                     layers as Q4_0, --bits 8 --group 32 as Q8_0 (their codes quantized\n"
           "                     on that grid), the rest in --dtype (f32/f16/bf16); a layer whose\n"
           "                     width is not a multiple of 32 stays unquantized (docs/formats.md)\n"
           "  (a packed export the recipe cannot give is refused before any work: docs/formats.md)\n"
           "  --abits A          quantize every linear's input per token (dynamic, asymmetric) to A\n"
           "                     bits (2-16) when the compressed model runs; recorded in its\n"
           "                     config.json (HF output only). cbq trains with it; the other\n"
           "                     methods calibrate on float activations\n"
           "\n"
           "cbq (cross-block quantization, docs/cbq.md; holds the model in fp32 in RAM):\n"
           "  --window W         blocks trained together (default 2)\n"
           "  --overlap O        blocks shared by consecutive windows (default 1)\n"
           "  --rank R           rank of the LoRA-rounding matrices (default 5)\n"
           "  --epochs E         passes over the calibration sequences per window (default 4)\n"
           "  --lr X             Adam learning rate of the rounding matrices (default 1e-3)\n"
           "  --seed S           initialization of the rounding matrices (default 0)\n"
           "  --no-cfp           no coarse-to-fine outlier preprocessing\n"
           "  --no-lora-rounding round to nearest; train the step sizes only\n"
           "\n"
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
    std::string model_path, tokenizer_path, out, gptq_out, ct_out, gguf_out, eval_text, recipe_path, dtype_name, offload_dir;
    uint64_t max_shard_bytes = 0;
    bool resume = false, overwrite = false;
    model::ModelFormat format = model::ModelFormat::hf;
    SequenceSource calib, eval;
    nlohmann::json spec;
    int threads = 0;
    bool quiet = false;
    std::optional<model::LayerBudgetOptions> layer_budget;
    std::optional<model::GptqFormat> gptq_format;
    nlohmann::json moe_options = nlohmann::json::object();  // --moe-min-tokens, --moe-fallback
    nlohmann::json cbq_options = nlohmann::json::object();  // --window ... --no-lora-rounding
    int abits = 0;
    try {
        std::set<std::string> with_value = {"--model", "--tokenizer", "--calib", "--calib-tokens",
                                            "--calib-range", "--recipe", "--out", "--format", "--dtype",
                                            "--gptq-out", "--gptq-format", "--ct-out", "--gguf-out", "--eval", "--range", "--threads", "--seq-len",
                                            "--mixed", "--avg-bits", "--bit-options", "--quantiles",
                                            "--error-model", "--sensitivity", "--scope",
                                            "--layer-budget", "--layer-options",
                                            "--budget-sequences", "--max-shard-size", "--offload-dir",
                                            "--moe-min-tokens", "--moe-fallback", "--abits", "--window",
                                            "--overlap", "--rank", "--epochs", "--lr", "--seed"};
        with_value.insert(kMethodValueFlags.begin(), kMethodValueFlags.end());
        std::set<std::string> switches = kMethodSwitches;
        switches.insert("--quiet");
        switches.insert("--resume");
        switches.insert("--overwrite");
        switches.insert("--no-cfp");
        switches.insert("--no-lora-rounding");
        const Args args(argv, with_value, switches);
        model_path = args.get("--model", bundled_data_dir() + "/stories260K.bin");
        tokenizer_path = args.get("--tokenizer");
        calib.text_path = args.get("--calib", bundled_data_dir() + "/tinystories-valid.txt");
        calib.tokens_path = args.get("--calib-tokens");
        if (!calib.tokens_path.empty()) calib.mode = model::EvalMode::windows;
        calib.range = model::parse_range(args.get("--calib-range", calib.tokens_path.empty() ? "2000:2128" : "0:128"));
        calib.seq_len = args.seq_len();
        recipe_path = args.get("--recipe");
        spec = method_spec_from_args(args);
        const nlohmann::json mixed = mixed_spec_from_args(args);
        if (!mixed.is_null()) spec["mixed"] = mixed;
        out = args.require("--out");
        format = model::parse_model_format(args.get("--format", "hf"));
        dtype_name = args.get("--dtype");
        gptq_out = args.get("--gptq-out");
        ct_out = args.get("--ct-out");
        if (args.has("--gptq-format")) {
            if (gptq_out.empty()) throw std::invalid_argument("--gptq-format needs --gptq-out");
            const std::string f = args.get("--gptq-format");
            if (f != "v1" && f != "v2") throw std::invalid_argument("--gptq-format must be v1 or v2, got '" + f + "'");
            gptq_format = f == "v1" ? model::GptqFormat::v1 : model::GptqFormat::v2;
        }
        gguf_out = args.get("--gguf-out");
        if (!gguf_out.empty() && args.has("--layer-budget"))
            throw std::invalid_argument("--gguf-out takes one grid per layer from the method options, not --layer-budget");
        eval_text = args.get("--eval");
        eval.text_path = eval_text;
        eval.range = model::parse_range(args.get("--range", "0:1000"));
        eval.seq_len = calib.seq_len;
        threads = args.threads();
        quiet = args.has("--quiet") || (current_job() && current_job()->rank() != 0);
        resume = args.has("--resume");
        overwrite = args.has("--overwrite");
        offload_dir = args.get("--offload-dir");
        max_shard_bytes = model::parse_byte_size(args.get("--max-shard-size", "5GB"));
        if (args.has("--moe-min-tokens"))
            moe_options["min_tokens"] = args.integer("--moe-min-tokens", 0, 0, int64_t{1} << 40);
        if (args.has("--moe-fallback")) moe_options["fallback"] = args.get("--moe-fallback");
        abits = static_cast<int>(args.integer("--abits", 0, 0, 16));
        if (abits == 1) throw std::invalid_argument("--abits must be 0 (float) or in [2, 16]");
        const bool cbq = spec.value("method", "") == "cbq";
        for (const char* flag : {"--window", "--overlap", "--rank", "--epochs"})
            if (args.has(flag)) cbq_options[flag + 2] = args.integer(flag, 0, 0, int64_t{1} << 20);
        if (args.has("--lr")) cbq_options["lr"] = args.number("--lr", 1e-3);
        if (args.has("--seed")) cbq_options["seed"] = args.integer("--seed", 0, 0, int64_t{1} << 62);
        if (args.has("--no-cfp")) cbq_options["cfp"] = false;
        if (args.has("--no-lora-rounding")) cbq_options["lora_rounding"] = false;
        if (!cbq_options.empty() && !cbq && recipe_path.empty())
            throw std::invalid_argument("--window, --overlap, --rank, --epochs, --lr, --seed, --no-cfp and "
                                        "--no-lora-rounding are cbq options (--method cbq)");
        if (args.has("--layer-budget")) {
            layer_budget.emplace();
            layer_budget->avg_bits = args.number("--layer-budget", 4.0);
            if (args.has("--layer-options"))
                layer_budget->options = parse_list<int>("--layer-options", args.get("--layer-options"));
            layer_budget->sequences = args.integer("--budget-sequences", layer_budget->sequences, 1, kMaxCount);
        } else if (args.has("--layer-options") || args.has("--budget-sequences")) {
            throw std::invalid_argument("--layer-options and --budget-sequences need --layer-budget");
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "surgeon compress: error: %s\n%s", e.what(), compress_usage().c_str());
        return 2;
    }

    // In an MPI job (cli/job.hpp) every rank compresses; rank 0 writes and reports.
    model::Reducer* const job = current_job();
    const bool lead = !job || job->rank() == 0;
    // The outputs are checked before any work and assembled under temporary names; a
    // failure removes them, except an interrupted --out whose run state --resume continues.
    StagedOutputs outputs(overwrite);
    const std::string out_stage = partial_name(out);
    const std::string run_dir = model::run_dir_for(out_stage, format);
    std::error_code ec;
    if (!resume && std::filesystem::exists(run_dir, ec))
        fail(SURGEON_ERR_IO, "'" + out_stage + "' holds an interrupted run of --out '" + out +
                                 "'; add --resume to continue it, or remove it");
    if (resume && !std::filesystem::exists(run_dir, ec))
        fail(SURGEON_ERR_IO, "--resume: '" + out + "' has no interrupted run ('" + out_stage + "')");
    if (lead) outputs.add(out, model::output_kind(format), resume);
    const std::string gptq_stage = gptq_out.empty() || !lead ? "" : outputs.add(gptq_out, OutputKind::directory);
    const std::string ct_stage = ct_out.empty() || !lead ? "" : outputs.add(ct_out, OutputKind::directory);
    const std::string gguf_stage = gguf_out.empty() || !lead ? "" : outputs.add(gguf_out, OutputKind::file);

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
        if (j.contains("cbq")) recipe_json["cbq"] = j.at("cbq");
    }
    if (!cbq_options.empty()) {
        if (!recipe_json.contains("cbq") || !recipe_json["cbq"].is_object()) recipe_json["cbq"] = nlohmann::json::object();
        recipe_json["cbq"].update(cbq_options);
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

    const bool cbq = recipe.uses(model::Method::cbq);
    model::CbqOptions cbq_run;  // a cbq run's options: the recipe's, --abits over its act_bits
    if (cbq) {
        require_arg(!layer_budget && gguf_out.empty() && offload_dir.empty() && !resume && (!job || job->size() == 1),
                    "cbq trains whole windows of blocks in one process on the model in RAM: --layer-budget, "
                    "--gguf-out, --offload-dir, --resume and MPI ranks do not apply");
        cbq_run.apply(recipe.cbq());
        if (abits > 0) cbq_run.act_bits = abits;
        abits = cbq_run.act_bits;
    }
    if (abits > 0) {
        require_arg(format == model::ModelFormat::hf,
                    "--abits is recorded in the model's config.json: write a Hugging Face directory (--format hf)");
        require(gptq_out.empty() && ct_out.empty() && gguf_out.empty(), SURGEON_ERR_UNSUPPORTED,
                "--abits: packed exports (--gptq-out, --ct-out, --gguf-out) do not record activation quantization");
    }
    const LoadedModel m = load_model_and_tokenizer(model_path, tokenizer_path);
    require(m.config().act_bits == 0, SURGEON_ERR_UNSUPPORTED,
            "'" + model_path + "' quantizes its activations (" + std::to_string(m.config().act_bits) +
                " bits): compress its float original");
    std::optional<model::GgufType> gguf_float;
    std::vector<std::string> gguf_unquantized;
    const auto* gguf_tokenizer = dynamic_cast<const model::Tokenizer*>(m.tokenizer.get());
    if (!gguf_out.empty()) {
        try {
            recipe_json = model::gguf_recipe(recipe_json, m.config(), m.source->ffn_sizes(), &gguf_unquantized);
            recipe = model::Recipe::from_json(recipe_json);
        } catch (const Error& e) {
            fail(e.status(), std::string("--gguf-out: ") + e.what());
        }
        require_arg(gguf_tokenizer != nullptr, "--gguf-out: a GGUF carries the tokenizer, and only a llama2.c tokenizer "
                                               "is written; none was found for '" + model_path + "' (pass --tokenizer FILE)");
        require(m.config().plain_llama(), SURGEON_ERR_UNSUPPORTED,
                "--gguf-out: GGUF output writes the plain Llama block, not this " + m.config().family + " model");
    }
    // Default: the source model's float type in an HF directory, float32 in a llama2.c file.
    const model::Dtype dtype = !dtype_name.empty()             ? model::parse_float_dtype(dtype_name)
                               : format == model::ModelFormat::hf ? m.source_dtype
                                                                  : model::Dtype::F32;
    // Packed exports the recipe cannot give are refused here, before any work; checked again
    // when a layer budget has chosen the widths.
    const model::Dtype ct_dtype = !dtype_name.empty() ? dtype : m.source_dtype == model::Dtype::F32 ? model::Dtype::F16
                                                                                                   : m.source_dtype;
    std::optional<model::GptqExportOptions> gptq_options;
    std::optional<model::CtExportOptions> ct_options;
    auto plan_exports = [&] {
        if (!gptq_out.empty()) model::check_packed_exportable(m.config(), "--gptq-out: the packed GPTQ export");
        if (!ct_out.empty()) model::check_packed_exportable(m.config(), "--ct-out: the compressed-tensors export");
        const auto plans = model::export_plans(m.config(), m.source->ffn_sizes(), recipe);
        if (!gptq_out.empty()) gptq_options = model::plan_gptq_export(plans, gptq_format, model::Dtype::F16);
        if (!ct_out.empty()) ct_options = model::plan_ct_export(plans, ct_dtype);
    };
    plan_exports();
    if (!gguf_out.empty())
        gguf_float = dtype == model::Dtype::F16    ? model::GgufType::F16
                     : dtype == model::Dtype::BF16 ? model::GgufType::BF16
                                                   : model::GgufType::F32;
    const auto calibration = build_sequences(m, calib);
    auto ctx = std::make_shared<Context>();
    ctx->threads = threads;
    // A model-level budget first: measured loss rises choose each layer's width.
    std::optional<model::LayerBudget> budget;
    if (layer_budget) {
        budget = model::plan_layer_budget(m.materialize(), calibration, recipe, *layer_budget, ctx);
        for (const auto& rule : model::layer_budget_rules(*budget, recipe)) recipe_json["rules"].push_back(rule);
        recipe = model::Recipe::from_json(recipe_json);
        plan_exports();
    }

    model::CompressionReport report;
    nlohmann::json cbq_json;                // cbq: the windows and the preprocessing
    std::optional<model::Model> cbq_model;  // cbq: the compressed model, in RAM
    std::vector<std::string> staged_files;  // what was written, under the staged names
    if (cbq) {
        const model::CbqOptions& options = cbq_run;
        model::Model work = m.materialize();
        if (!quiet) {
            uint64_t floats = static_cast<uint64_t>(work.tok_emb.data.size() + work.wcls.data.size());
            for (const model::LayerWeights& l : work.layers)
                for (const char* name : model::kLinearNames) floats += model::linear(l, name).data.size();
            std::fprintf(stderr, "memory: the model in fp32 (%s) plus a window's calibration activations\n",
                         format_bytes(4 * floats).c_str());
        }
        int64_t windows_done = 0;
        const model::CbqReport r = model::compress_cbq(
            work, calibration, recipe, options, ctx, [&](const model::CbqWindowRecord& w, int64_t total) {
                ++windows_done;
                if (quiet) return;
                std::fprintf(stderr, "cbq window %lld/%lld (blocks %lld-%lld): loss %.6g -> %.6g, hardened %.6g, %.1f s\n",
                             static_cast<long long>(windows_done), static_cast<long long>(total),
                             static_cast<long long>(w.first), static_cast<long long>(w.last - 1), w.loss_first_epoch,
                             w.loss_last_epoch, w.loss_hard, w.seconds);
            });
        report = r.compression;
        cbq_json = r.to_json();
        cbq_json["cbq_options"] = options.to_json();
        model::SaveOptions save;
        save.format = format;
        save.dtype = dtype;
        save.tokenizer_path = m.tokenizer_path;
        save.max_shard_bytes = max_shard_bytes;
        model::save_model(work, out_stage, save);
        if (std::filesystem::is_directory(out_stage, ec)) {
            for (const auto& e : std::filesystem::directory_iterator(out_stage)) staged_files.push_back(e.path().string());
            std::sort(staged_files.begin(), staged_files.end());
        } else {
            staged_files.push_back(out_stage);
        }
        cbq_model = std::move(work);
    } else {
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

        model::ModelConfig out_config = m.config();
        out_config.act_bits = abits;
        model::WriterOptions writer_options;
        writer_options.format = format;
        writer_options.dtype = dtype;
        writer_options.max_shard_bytes = max_shard_bytes;
        writer_options.tokenizer_path = m.tokenizer_path;
        const auto writer = lead ? model::ModelWriter::create(out_stage, out_config, m.source->ffn_sizes(), writer_options, resume)
                                 : nullptr;
        model::StreamOptions stream;
        if (!offload_dir.empty()) {
            std::filesystem::create_directories(offload_dir, ec);
            if (ec) fail(SURGEON_ERR_IO, "cannot create --offload-dir '" + offload_dir + "': " + ec.message());
        }
        stream.reducer = job;
        stream.offload_dir = offload_dir;
        stream.run_dir = run_dir;
        stream.resume = resume;
        stream.keep_quant = gptq_options || ct_options || !gguf_out.empty();
        for (const std::string& a : argv)
            if (a != "--resume" && a != "--quiet") stream.run_key += a + '\n';
        ProgressBar bar("block", !quiet);
        int64_t blocks_finished = 0;
        report = [&] {
            try {
                return model::compress_streamed(*m.source, writer.get(), calibration, recipe, ctx, stream,
                                                [&](int64_t done, int64_t total) {
                                                    blocks_finished = done;
                                                    bar.update(done, total);
                                                });
            } catch (...) {
                // A run with finished blocks stays for --resume; one with none leaves nothing.
                if (lead) {
                    const bool keep = (resume || blocks_finished > 0) && std::filesystem::exists(run_dir, ec);
                    outputs.keep_on_failure(out, keep);
                    if (!keep) {
                        writer->abandon();
                        std::filesystem::remove_all(run_dir, ec);
                    }
                }
                throw;
            }
        }();
        if (!lead) return 0;
        for (const std::string& f : writer->files()) staged_files.push_back(f);
    }

    print_mixed_table(report);
    nlohmann::json summary = cbq ? cbq_json : report.to_json();
    if (budget) summary["layer_budget"] = budget->to_json();
    summary["model"] = model_path;
    summary["recipe"] = recipe_json;
    summary["out"] = out;
    std::vector<std::string> files;
    for (const std::string& f : staged_files)  // their names once renamed
        files.push_back(f.compare(0, out_stage.size(), out_stage) == 0 ? out + f.substr(out_stage.size()) : f);
    summary["files"] = files;
    if (gptq_options || ct_options || !gguf_out.empty()) {
        // The packed exports: each layer's codes with the compressed model's other tensors.
        std::map<std::string, QuantResult> quantized;
        for (const model::CompressedLayer& l : report.layers)
            if (l.quant) quantized.emplace(l.name, *l.quant);
        std::optional<model::Model> loaded;
        if (!cbq_model) loaded = model::load_model(out_stage);
        const model::Model& compressed = cbq_model ? *cbq_model : *loaded;
        if (gptq_options) {
            const model::GptqExportSummary g =
                model::save_gptq_model(compressed, quantized, gptq_stage, m.tokenizer_path, *gptq_options);
            summary["gptq_out"] = {{"dir", gptq_out}, {"format", model::gptq_format_name(g.format)},
                                   {"bits", g.bits}, {"group_size", g.group_size}, {"sym", g.sym},
                                   {"desc_act", g.desc_act}, {"quantized_layers", g.quantized_layers},
                                   {"dense_layers", g.dense_layers}};
        }
        if (ct_options) {
            const model::CtExportSummary c =
                model::save_ct_model(compressed, quantized, ct_stage, m.tokenizer_path, *ct_options);
            summary["ct_out"] = {{"dir", ct_out}, {"format", "pack-quantized"},
                                 {"config_groups", c.config_groups}, {"quantized_layers", c.quantized_layers},
                                 {"dense_layers", c.dense_layers}};
        }
        if (!gguf_out.empty()) {
            model::GgufOptions o;
            o.float_type = *gguf_float;
            o.name = std::filesystem::path(model_path).stem().string();
            const model::GgufSummary g = model::write_gguf(compressed, *gguf_tokenizer, quantized, gguf_stage, o);
            summary["gguf_out"] = {{"file", gguf_out}, {"file_type", g.file_type}, {"tensors", g.tensors},
                                   {"unquantized", gguf_unquantized}, {"ffn_padded_blocks", g.ffn_padded},
                                   {"bytes", g.bytes}};
        }
    }
    if (!eval_text.empty()) {
        const model::PerplexityResult r =
            model::evaluate_sequences(backend_for(*ctx), *model::open_model(out_stage), build_sequences(m, eval));
        summary["eval"] = {{"text", eval_text}, {"sequences", r.sequences}, {"tokens", r.tokens},
                           {"nll", r.nll}, {"ppl", r.ppl}, {"seconds", r.seconds}};
    }
    outputs.commit();
    std::printf("%s\n", summary.dump().c_str());
    return 0;
}

int run_compress_job(const std::vector<std::string>& argv) { return run_as_job("compress", argv, run_compress); }

}  // namespace

SURGEON_COMMAND("compress", "compress a whole model (calibrate, prune/quantize, save; data parallel under mpirun)",
                run_compress_job);

}  // namespace surgeon::cli
