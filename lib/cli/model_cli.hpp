// Pieces shared by the whole-model commands (compress, eval, generate, demo): loading a
// model with its tokenizer, turning text or a token file into sequences, the progress bar.
#pragma once

#include <chrono>
#include <memory>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "nn/model.hpp"
#include "nn/model_source.hpp"
#include "nn/perplexity.hpp"
#include "io/safetensors.hpp"
#include "io/hf_tokenizer.hpp"

namespace surgeon::cli {

struct LoadedModel {
    std::string path;
    std::unique_ptr<model::ModelSource> source;  // the checkpoint, read one part at a time
    std::shared_ptr<const model::TextTokenizer> tokenizer;  // null when none was found or given
    std::string tokenizer_path;
    model::Dtype source_dtype = model::Dtype::F32;  // float type of the stored weights

    const model::ModelConfig& config() const { return source->config(); }
    model::Model materialize() const { return model::materialize(*source); }  // the whole model in RAM
};

// --model PATH and optional --tokenizer FILE (a tokenizer.json or a llama2.c tokenizer;
// default: the model directory's tokenizer.json, else tok<vocab>.bin or tokenizer.bin
// beside the model or inside its directory).
LoadedModel load_model_and_tokenizer(const std::string& model_path, const std::string& tokenizer_path);

// Where the bundled default model and text live (samples/data of the source tree, or
// SURGEON_DATA_DIR from the environment).
std::string bundled_data_dir();

// Sequences to score or calibrate on. With `tokens_path`, the file's int32 ids are cut into
// windows (the only protocol a bare token stream supports); otherwise `text_path` is read
// and split by `mode`. `range` indexes non-empty paragraphs or windows.
struct SequenceSource {
    std::string text_path, tokens_path;
    model::EvalMode mode = model::EvalMode::paragraphs;
    model::Range range;
    int64_t seq_len = 0;  // 0: the model's context
};
std::vector<std::vector<int>> build_sequences(const LoadedModel& m, const SequenceSource& source);

// The layer options of `surgeon compress` (--method --sparsity --nm --bits --group --asym
// --mse --act-order --static-groups --blocksize --damp --mask-scope) as a recipe entry.
extern const char* const kMethodFlagsUsage;
extern const std::set<std::string> kMethodValueFlags, kMethodSwitches;
nlohmann::json method_spec_from_args(const Args& args);

// "block 3/12 [=====     ] 12.3 s elapsed, ETA 20.1 s, peak RSS 1.21 GB" on stderr,
// redrawn in place on a terminal and one line per update otherwise. Time and ETA count
// from the first update, which gives the items already done (0, or where a resumed run
// starts).
class ProgressBar {
public:
    ProgressBar(std::string label, bool enabled);
    void update(int64_t done, int64_t total);

private:
    std::string label_;
    bool enabled_, tty_;
    bool started_ = false;
    int64_t first_ = 0;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace surgeon::cli
