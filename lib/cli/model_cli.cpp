#include "cli/model_cli.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/memory_usage.hpp"
#include "io/checkpoint.hpp"
#include "io/model_reader.hpp"

namespace surgeon::cli {

namespace fs = std::filesystem;

LoadedModel load_model_and_tokenizer(const std::string& model_path, const std::string& tokenizer_path) {
    LoadedModel m;
    m.path = model_path;
    m.source = model::open_model(model_path, &m.source_dtype);
    m.tokenizer_path = tokenizer_path.empty()
                           ? model::find_model_tokenizer(model_path, m.config().vocab_size)
                           : tokenizer_path;
    if (!m.tokenizer_path.empty()) m.tokenizer = model::open_tokenizer(m.tokenizer_path, m.config().vocab_size);
    return m;
}

std::string bundled_data_dir() {
    if (const char* env = std::getenv("SURGEON_DATA_DIR")) return env;
    return SURGEON_SOURCE_DATA_DIR;  // samples/data of the source tree, set by CMake
}

const char* const kMethodFlagsUsage =
    "  --method M        sparsegpt | gptq | wanda | magnitude | rtn | cbq | dense (default sparsegpt)\n"
    "  --sparsity S      unstructured sparsity in [0, 1) (pruning methods; default 0.5)\n"
    "  --nm N:M          semi-structured N:M pruning instead (e.g. 2:4)\n"
    "  --bits B          quantize to B bits (2-8): gptq and rtn, or sparsegpt joint\n"
    "  --group G         quantization group size in columns (default: per output row)\n"
    "  --asym            asymmetric grid (default symmetric)\n"
    "  --mse             MSE clipping search for the grid\n"
    "  --act-order       quantize columns by descending Hessian diagonal (gptq)\n"
    "  --static-groups   with --act-order, groups fixed before reordering\n"
    "  --blocksize N     OBS lazy-update block (default 128)\n"
    "  --damp D          damping, fraction of mean diag(H) (default 0.01)\n"
    "  --mask-scope S    block (default, one threshold per column block) | row\n";

const std::set<std::string> kMethodValueFlags = {"--method", "--sparsity", "--nm", "--bits", "--group",
                                                 "--blocksize", "--damp", "--mask-scope"};
const std::set<std::string> kMethodSwitches = {"--asym", "--mse", "--act-order", "--static-groups"};

nlohmann::json method_spec_from_args(const Args& args) {
    nlohmann::json spec{{"method", args.get("--method", "sparsegpt")}};
    const std::string method = spec["method"];
    const bool prunes = method == "sparsegpt" || method == "wanda" || method == "magnitude";
    if (args.has("--nm")) {
        if (args.has("--sparsity")) throw std::invalid_argument("--sparsity and --nm exclude each other");
        spec["nm"] = args.get("--nm");
    } else if (prunes) {
        spec["sparsity"] = args.number("--sparsity", 0.5);
    }
    if (args.has("--bits")) spec["bits"] = args.integer("--bits", 4);
    else if (method == "gptq" || method == "rtn" || method == "cbq") spec["bits"] = 4;
    if (args.has("--group")) spec["group"] = args.integer("--group", 0);
    if (args.has("--asym")) spec["asym"] = true;
    if (args.has("--mse")) spec["mse"] = true;
    if (args.has("--act-order")) spec["act_order"] = true;
    if (args.has("--static-groups")) spec["static_groups"] = true;
    if (args.has("--blocksize")) spec["blocksize"] = args.integer("--blocksize", 128);
    if (args.has("--damp")) spec["damp"] = args.number("--damp", 0.01);
    if (args.has("--mask-scope")) spec["mask_scope"] = args.get("--mask-scope");
    return spec;
}

namespace {

// At least one sequence with a token to predict, or an error naming the input.
std::vector<std::vector<int>> scorable(std::vector<std::vector<int>> sequences, const std::string& input,
                                       const model::Range& range) {
    for (const auto& s : sequences)
        if (s.size() >= 2) return sequences;
    fail(SURGEON_ERR_INVALID_ARGUMENT, "'" + input + "' gives no sequence of two tokens or more in the range " +
                                           std::to_string(range.begin) + ":" +
                                           (range.end >= 0 ? std::to_string(range.end) : std::string()));
}

}  // namespace

std::vector<std::vector<int>> build_sequences(const LoadedModel& m, const SequenceSource& source) {
    const int64_t seq_len = source.seq_len > 0 ? source.seq_len : m.config().seq_len;
    if (!source.tokens_path.empty()) {
        require_arg(source.mode == model::EvalMode::windows,
                    "a token file is scored in windows mode (--mode windows)");
        const std::vector<int> tokens = model::read_token_file(source.tokens_path, m.config().vocab_size);
        return scorable(model::window_sequences(tokens, source.range, seq_len), source.tokens_path, source.range);
    }
    require_arg(m.tokenizer != nullptr,
                "no tokenizer for '" + m.path + "': pass --tokenizer FILE or --tokens FILE");
    const std::string text = model::read_text_file(source.text_path);
    if (source.mode == model::EvalMode::paragraphs)
        return scorable(model::paragraph_sequences(*m.tokenizer, text, source.range, seq_len), source.text_path,
                        source.range);
    return scorable(model::window_sequences(m.tokenizer->encode(text, false), source.range, seq_len),
                    source.text_path, source.range);
}

ProgressBar::ProgressBar(std::string label, bool enabled)
    : label_(std::move(label)), enabled_(enabled), tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {}

void ProgressBar::update(int64_t done, int64_t total) {
    if (!enabled_ || total <= 0) return;
    if (!started_) {
        started_ = true;
        first_ = done;
        start_ = std::chrono::steady_clock::now();
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    char eta[32] = "-";  // unknown until an item is done
    if (done > first_)
        std::snprintf(eta, sizeof eta, "%.1f s",
                      elapsed * static_cast<double>(total - done) / static_cast<double>(done - first_));
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(kWidth * done / total);
    std::string bar(static_cast<size_t>(filled), '=');
    bar.resize(kWidth, ' ');
    std::fprintf(stderr, "%s%s %lld/%lld [%s] %.1f s elapsed, ETA %s, peak RSS %s%s", tty_ ? "\r" : "",
                 label_.c_str(), static_cast<long long>(done), static_cast<long long>(total),
                 bar.c_str(), elapsed, eta, format_bytes(peak_rss_bytes()).c_str(),
                 tty_ && done < total ? "" : "\n");
    std::fflush(stderr);
}

}  // namespace surgeon::cli
