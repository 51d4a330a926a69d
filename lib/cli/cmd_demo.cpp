// `surgeon demo`: the README's first command. On the bundled stories260K model and
// TinyStories text it measures dense perplexity, then compresses with SparseGPT 50%,
// SparseGPT 2:4, GPTQ 4-bit, GPTQ 3-bit against mixed precision at the same 3.0 bits
// (rows priced by the output Fisher, one model-wide budget) and magnitude 50% (the
// papers' protocol: calibration paragraphs 2000:2128, evaluation paragraphs 0:1000) and
// prints a table.
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "cli/command.hpp"
#include "cli/model_cli.hpp"
#include "core/context.hpp"
#include "core/error.hpp"
#include "core/output_file.hpp"
#include "io/checkpoint.hpp"
#include "compress/pipeline.hpp"
#include "compress/recipe.hpp"

namespace surgeon::cli {
namespace {

constexpr const char* kDemoUsage =
    "usage: surgeon demo [--model M] [--text TEXT] [--calib-range a:b] [--range a:b]\n"
    "                    [--out DIR [--overwrite]] [--threads T]\n"
    "\n"
    "Dense perplexity, then SparseGPT 50%, SparseGPT 2:4, GPTQ 4-bit, GPTQ 3-bit against\n"
    "mixed precision at 3.0 bits on average, and magnitude 50% for contrast, on the bundled\n"
    "stories260K and TinyStories sample unless told otherwise.\n"
    "  --out DIR   also save each compressed model as DIR/<method>/ (HF safetensors); DIR is\n"
    "              assembled as DIR.partial and renamed at the end; an existing DIR is refused\n"
    "              unless --overwrite\n";

struct DemoRow {
    const char* label;
    const char* spec;  // recipe default entry (JSON)
};

const DemoRow kRows[] = {
    {"sparsegpt 50%", R"({"method": "sparsegpt", "sparsity": 0.5})"},
    {"sparsegpt 2:4", R"({"method": "sparsegpt", "nm": "2:4"})"},
    {"gptq 4-bit", R"({"method": "gptq", "bits": 4})"},
    {"gptq 3-bit", R"({"method": "gptq", "bits": 3})"},
    {"mixed 3.0 bits", R"({"method": "gptq", "mixed": {"allocator": "error", "avg_bits": 3, "scope": "model"}})"},
    {"magnitude 50%", R"({"method": "magnitude", "sparsity": 0.5})"},
};

int run_demo(const std::vector<std::string>& argv) {
    if (help_requested(argv, kDemoUsage)) return 0;
    std::string model_path, out_dir;
    SequenceSource calib, eval;
    int threads = 0;
    bool overwrite = false;
    try {
        const Args args(argv, {"--model", "--text", "--calib-range", "--range", "--out", "--threads"}, {"--overwrite"});
        model_path = args.get("--model", bundled_data_dir() + "/stories260K.bin");
        calib.text_path = eval.text_path = args.get("--text", bundled_data_dir() + "/tinystories-valid.txt");
        calib.range = model::parse_range(args.get("--calib-range", "2000:2128"));
        eval.range = model::parse_range(args.get("--range", "0:1000"));
        out_dir = args.get("--out");
        threads = args.threads();
        overwrite = args.has("--overwrite");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "surgeon demo: error: %s\n%s", e.what(), kDemoUsage);
        return 2;
    }
    StagedOutputs outputs(overwrite);  // DIR is assembled under DIR.partial, renamed at the end
    const std::string out_stage = out_dir.empty() ? "" : outputs.add(out_dir, OutputKind::directory);
    const LoadedModel base = load_model_and_tokenizer(model_path, "");
    const auto calibration = build_sequences(base, calib);
    const auto evaluation = build_sequences(base, eval);
    auto ctx = std::make_shared<Context>();
    ctx->threads = threads;

    std::printf("model %s: %lld blocks, dim %lld; calibration %zu paragraphs, evaluation %zu paragraphs\n\n",
                model_path.c_str(), static_cast<long long>(base.config().n_layers),
                static_cast<long long>(base.config().dim), calibration.size(), evaluation.size());
    std::printf("%-15s %10s %10s %10s %12s %8s\n", "method", "perplexity", "vs dense", "sparsity",
                "compress s", "eval s");
    const model::Model base_model = base.materialize();
    const model::PerplexityResult dense = model::evaluate_sequences(backend_for(*ctx), base_model, evaluation);
    std::printf("%-15s %10.3f %10s %10s %12s %8.2f\n", "dense", dense.ppl, "", "0%", "", dense.seconds);
    std::fflush(stdout);
    for (const DemoRow& row : kRows) {
        model::Model m = base_model;
        const model::Recipe recipe = model::Recipe::from_json({{"default", nlohmann::json::parse(row.spec)}});
        const model::CompressionReport report = model::compress_model(m, calibration, recipe, ctx);
        const model::PerplexityResult r = model::evaluate_sequences(backend_for(*ctx), m, evaluation);
        const double sparsity = report.to_json()["linear_sparsity"].get<double>();
        std::printf("%-15s %10.3f %9.2fx %9.1f%% %12.2f %8.2f\n", row.label, r.ppl, r.ppl / dense.ppl,
                    100.0 * sparsity, report.seconds, r.seconds);
        std::fflush(stdout);
        if (!out_dir.empty()) {
            std::string name = row.label;
            for (char& ch : name) ch = (ch == ' ' || ch == ':' || ch == '%') ? '_' : ch;
            std::error_code ec;
            std::filesystem::create_directories(out_stage, ec);
            if (ec) fail(SURGEON_ERR_IO, "cannot create '" + out_stage + "': " + ec.message());
            model::save_model(m, (std::filesystem::path(out_stage) / name).string(), {model::ModelFormat::hf, model::Dtype::F32, ""});
        }
    }
    if (!out_dir.empty()) outputs.commit();
    return 0;
}

}  // namespace

SURGEON_COMMAND("demo", "the bundled end-to-end job: dense vs SparseGPT 50%, 2:4, GPTQ, mixed precision",
                run_demo);

}  // namespace surgeon::cli
