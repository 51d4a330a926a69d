// `surgeon tokenize`: the token ids a model's tokenizer (tokenizer.json or llama2.c) gives
// a text, as JSON.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "cli/command.hpp"
#include "cli/model_cli.hpp"
#include "core/error.hpp"

namespace surgeon::cli {
namespace {

constexpr const char* kTokenizeUsage = R"(usage: surgeon tokenize (--model M | --tokenizer FILE) [--no-special] (--text T | --file F)

  --model M         model whose tokenizer to use: its directory's tokenizer.json, else the
                    llama2.c tok<vocab>.bin / tokenizer.bin beside it
  --tokenizer FILE  a tokenizer.json (tokenizer_config.json beside it is read) or a llama2.c
                    tokenizer; with --model, its ids must fit the model's vocabulary
  --no-special      leave out the special tokens the tokenizer adds (BOS/EOS)
  --text T          the text to tokenize
  --file F          read the text from a file
Prints one JSON line: tokenizer, count, ids.
)";

int run_tokenize(const std::vector<std::string>& argv) {
    if (help_requested(argv, kTokenizeUsage)) return 0;
    std::string model_path, tokenizer_path, text, file;
    bool special = true;
    try {
        const Args args(argv, {"--model", "--tokenizer", "--text", "--file"}, {"--no-special"});
        model_path = args.get("--model");
        tokenizer_path = args.get("--tokenizer");
        if (model_path.empty() && tokenizer_path.empty()) throw std::invalid_argument("pass --model or --tokenizer");
        if (args.has("--text") == args.has("--file")) throw std::invalid_argument("pass exactly one of --text and --file");
        text = args.get("--text");
        file = args.get("--file");
        special = !args.has("--no-special");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "surgeon tokenize: error: %s\n%s", e.what(), kTokenizeUsage);
        return 2;
    }
    std::shared_ptr<const model::TextTokenizer> tok;
    if (!model_path.empty()) {
        const LoadedModel m = load_model_and_tokenizer(model_path, tokenizer_path);
        require_arg(m.tokenizer != nullptr,
                    "no tokenizer for '" + model_path + "': it has no tokenizer.json; pass --tokenizer FILE");
        tok = m.tokenizer;
        tokenizer_path = m.tokenizer_path;
    } else {
        tok = model::open_tokenizer(tokenizer_path);
    }
    if (!file.empty()) text = model::read_text_file(file);
    const std::vector<int> ids = tok->encode(text, special);
    const nlohmann::ordered_json j{{"tokenizer", tokenizer_path}, {"count", ids.size()}, {"ids", ids}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
}

}  // namespace

SURGEON_COMMAND("tokenize", "token ids of a text under a model's tokenizer (JSON)", run_tokenize);

}  // namespace surgeon::cli
