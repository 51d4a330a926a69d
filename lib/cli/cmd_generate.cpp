// `surgeon generate`: text continuation with a KV cache (greedy by default), the smoke
// test that a model, original or compressed, still speaks.
#include <cstdio>

#include "cli/command.hpp"
#include "cli/model_cli.hpp"
#include "core/error.hpp"
#include "nn/generate.hpp"

namespace surgeon::cli {
namespace {

constexpr const char* kGenerateUsage = R"(usage: surgeon generate [--model M] [--prompt TEXT] [--steps N] [--temperature T]
                        [--top-p P] [--seed S] [--tokenizer FILE]

  --model M        llama2.c .bin or Hugging Face directory (default: bundled stories260K)
  --prompt TEXT    text to continue (default: none, start from BOS)
  --steps N        positions to run, prompt included (default 256, at most the context)
  --temperature T  0 = greedy (default); > 0 samples, with nucleus --top-p in (0, 1] (default 0.9)
)";

int run_generate(const std::vector<std::string>& argv) {
    if (help_requested(argv, kGenerateUsage)) return 0;
    std::string model_path, tokenizer_path, prompt;
    int64_t steps = 256;
    model::SamplingOptions sampling;
    try {
        const Args args(argv, {"--model", "--prompt", "--steps", "--temperature", "--top-p", "--seed",
                               "--tokenizer"}, {});
        model_path = args.get("--model", bundled_data_dir() + "/stories260K.bin");
        tokenizer_path = args.get("--tokenizer");
        prompt = args.get("--prompt");
        steps = args.integer("--steps", steps, 1, kMaxCount);
        sampling.temperature = static_cast<float>(args.number("--temperature", 0.0));
        sampling.top_p = static_cast<float>(args.number("--top-p", sampling.top_p));
        sampling.seed = args.seed(42);
        if (sampling.temperature < 0) throw std::invalid_argument("--temperature must be >= 0");
        if (!(sampling.top_p > 0.0f && sampling.top_p <= 1.0f))
            throw std::invalid_argument("--top-p must be in (0, 1], got '" + args.get("--top-p") + "'");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "surgeon generate: error: %s\n%s", e.what(), kGenerateUsage);
        return 2;
    }
    const LoadedModel m = load_model_and_tokenizer(model_path, tokenizer_path);
    require_arg(m.tokenizer != nullptr, "no tokenizer for '" + model_path + "': pass --tokenizer FILE");
    const model::TextTokenizer& tok = *m.tokenizer;
    std::vector<int> start = tok.encode(prompt, true);
    if (start.empty() && tok.bos_id() >= 0) start.push_back(tok.bos_id());
    std::vector<int> tokens = start;
    std::string printed = tok.decode(tokens);
    std::fputs(printed.c_str(), stdout);
    // Each step prints what the whole sequence's text adds, held back while it ends in an
    // incomplete character (U+FFFD) or would rewrite text already printed.
    model::generate(backend_for(*default_context()), m.materialize(), start, steps, sampling, [&](int, int token) {
        tokens.push_back(token);
        const std::string text = tok.decode(tokens);
        if (text.compare(0, printed.size(), printed) != 0 || text.size() < printed.size()) return;
        if (text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0) return;
        std::fputs(text.c_str() + printed.size(), stdout);
        std::fflush(stdout);
        printed = text;
    });
    std::fputs("\n", stdout);
    return 0;
}

}  // namespace

SURGEON_COMMAND("generate", "continue a prompt with a model (greedy or sampled)", run_generate);

}  // namespace surgeon::cli
