// Perplexity of a model on text, in two protocols:
//  - paragraphs: the text split on "\n\n" into non-empty (stripped) paragraphs, each scored
//    on its own as [BOS] + encode(paragraph), truncated to seq_len tokens;
//  - windows: the whole text tokenized once without BOS and cut into non-overlapping
//    windows of seq_len tokens, each predicted from within the window (the WikiText
//    protocol of the SparseGPT and GPTQ papers; a last partial window is dropped).
// NLL is the mean over all predicted tokens (every token of a sequence but its first).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/backend.hpp"
#include "nn/model.hpp"
#include "nn/model_source.hpp"

namespace surgeon::model {

enum class EvalMode { paragraphs, windows };
EvalMode parse_eval_mode(const std::string& name);  // throws SURGEON_ERR_INVALID_ARGUMENT
const char* eval_mode_name(EvalMode mode);

// [begin, end) over the paragraphs or windows; end < 0 means "to the last one".
struct Range {
    int64_t begin = 0, end = -1;
};
Range parse_range(const std::string& text);  // "a:b", "a:", ":b"

// Non-empty paragraphs of `text` split on "\n\n", whitespace-stripped.
std::vector<std::string> split_paragraphs(const std::string& text);

// Clamps `range` to [0, count] of `unit` ("paragraphs", "windows") that `source` ("the
// text") has; throws SURGEON_ERR_INVALID_ARGUMENT when begin > end or begin > count, with
// a message naming both ("paragraphs 2000:2128 requested, the text has 1").
Range resolve_range(const Range& range, int64_t count, const char* unit,
                    const char* source);

// paragraph_sequences (io/tokenizer.hpp) cuts paragraphs [range) into token sequences.

// Non-overlapping windows of seq_len tokens of `tokens`, windows [range).
std::vector<std::vector<int>> window_sequences(const std::vector<int>& tokens, Range range,
                                               int64_t seq_len);

struct PerplexityResult {
    int64_t sequences = 0;
    int64_t tokens = 0;  // predicted tokens
    double nll = 0.0;    // mean negative log-likelihood (nats)
    double ppl = 0.0;    // exp(nll)
    double seconds = 0.0;
};

// Scores every sequence (each predicted from its own tokens only). The model is read one
// part at a time: batches of sequences whose hidden states fit `state_budget_bytes` go
// through the blocks with one block in memory, then through the classifier in chunks of
// rows. Within a batch, the backend's thread count of sequences run at a time, each on the
// single-threaded backend (a lone sequence gets the whole backend). The result does not
// depend on the schedule. Throws SURGEON_ERR_INVALID_ARGUMENT for a token outside the
// vocabulary and when no sequence has a token to predict (none of two tokens or more),
// SURGEON_ERR_NUMERIC when a sequence's log-likelihood is not finite.
constexpr uint64_t kDefaultStateBudget = uint64_t{1} << 30;
PerplexityResult evaluate_sequences(Backend& be, const ModelSource& source,
                                    const std::vector<std::vector<int>>& sequences,
                                    uint64_t state_budget_bytes = kDefaultStateBudget);
PerplexityResult evaluate_sequences(Backend& be, const Model& model,
                                    const std::vector<std::vector<int>>& sequences);

// Sum of -log p(token[t+1] | tokens[..t]) over one sequence.
double sequence_nll(Backend& be, const Model& model, const std::vector<int>& tokens);

}  // namespace surgeon::model
