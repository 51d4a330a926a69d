// `surgeon eval`: perplexity of a model on text (paragraphs or windows protocol).
#include <cstdio>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/model_cli.hpp"

namespace surgeon::cli {
namespace {

constexpr const char* kEvalUsage = R"(usage: surgeon eval [--model M] [--text TEXT | --tokens FILE] [--range a:b]
                    [--mode paragraphs|windows] [--seq-len N] [--abits A] [--tokenizer FILE]
                    [--threads T]

  --model M       llama2.c .bin or Hugging Face directory (default: the bundled stories260K)
  --text TEXT     evaluation text (default: the bundled TinyStories validation sample)
  --tokens FILE   little-endian int32 token ids instead of text (windows mode)
  --range a:b     non-empty paragraphs (or windows) a..b-1 (default: all)
  --mode M        paragraphs: each \n\n-separated paragraph as [BOS] + tokens;
                  windows: the whole text, non-overlapping seq-len windows, no BOS
  --seq-len N     context length (default: the model's)
  --abits A       quantize every linear's input per token (dynamic, asymmetric) to A bits
                  (2-16; 0: float), instead of what the model's config.json records
Prints one JSON line: sequences, tokens, nll, ppl, seconds.
)";

int run_eval(const std::vector<std::string>& argv) {
    if (help_requested(argv, kEvalUsage)) return 0;
    std::string model_path, tokenizer_path;
    SequenceSource source;
    int threads = 0;
    std::optional<int> abits;
    try {
        const Args args(argv, {"--model", "--text", "--tokens", "--range", "--mode", "--seq-len",
                               "--tokenizer", "--threads", "--abits"}, {});
        model_path = args.get("--model", bundled_data_dir() + "/stories260K.bin");
        tokenizer_path = args.get("--tokenizer");
        source.text_path = args.get("--text", bundled_data_dir() + "/tinystories-valid.txt");
        source.tokens_path = args.get("--tokens");
        if (args.has("--range")) source.range = model::parse_range(args.get("--range"));
        source.mode = model::parse_eval_mode(args.get("--mode", source.tokens_path.empty() ? "paragraphs" : "windows"));
        source.seq_len = args.seq_len();
        threads = args.threads();
        if (args.has("--abits")) {
            abits = static_cast<int>(args.integer("--abits", 0, 0, 16));
            if (*abits == 1) throw std::invalid_argument("--abits must be 0 (float) or in [2, 16]");
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "surgeon eval: error: %s\n%s", e.what(), kEvalUsage);
        return 2;
    }
    const LoadedModel m = load_model_and_tokenizer(model_path, tokenizer_path);
    if (abits) m.source->set_activation_bits(*abits);
    const auto sequences = build_sequences(m, source);
    Context ctx;
    ctx.threads = threads;
    const model::PerplexityResult r = model::evaluate_sequences(backend_for(ctx), *m.source, sequences);
    nlohmann::ordered_json j{{"model", model_path},        {"mode", model::eval_mode_name(source.mode)},
                             {"activation_bits", m.config().act_bits}, {"sequences", r.sequences},   {"tokens", r.tokens},
                             {"nll", r.nll},               {"ppl", r.ppl},
                             {"seconds", r.seconds}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
}

}  // namespace

SURGEON_COMMAND("eval", "perplexity of a model on text (paragraphs or windows)", run_eval);

}  // namespace surgeon::cli
