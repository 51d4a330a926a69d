// Text generation with a KV cache, as llama2.c's run.c does it: the prompt is fed once,
// then each sampled token is fed back until `steps` positions ran or the model emits BOS
// (which delimits TinyStories sequences) or EOS.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/backend.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

struct SamplingOptions {
    float temperature = 0.0f;  // 0: greedy (argmax)
    float top_p = 0.9f;        // nucleus sampling when in (0, 1); otherwise the full distribution
    uint64_t seed = 42;
};

// Picks the next token from one row of logits; holds the random state.
class Sampler {
public:
    explicit Sampler(const SamplingOptions& options);
    int sample(const float* logits, int64_t vocab);

private:
    float next_uniform();  // in [0, 1)
    SamplingOptions options_;
    uint64_t state_;
};

// Index of the largest value (the first on ties).
int argmax(const float* values, int64_t n);

// Continues `prompt` (non-empty; usually starting with BOS). `steps` is the number of
// positions run through the model (clamped to the model's seq_len), so at most
// steps + 1 - prompt.size() tokens are added. `on_token(prev, token)` sees each new token.
// Returns the prompt followed by the generated tokens (the stop token excluded).
std::vector<int> generate(Backend& be, const Model& model, const std::vector<int>& prompt, int64_t steps,
                          const SamplingOptions& sampling,
                          const std::function<void(int prev, int token)>& on_token = {});

}  // namespace surgeon::model
