#include "nn/generate.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "nn/forward.hpp"

namespace surgeon::model {

int argmax(const float* values, int64_t n) {
    return static_cast<int>(std::max_element(values, values + n) - values);
}

Sampler::Sampler(const SamplingOptions& options) : options_(options), state_(options.seed) {
    require_arg(options.temperature >= 0.0f && std::isfinite(options.temperature),
                "temperature must be >= 0");
    require_arg(std::isfinite(options.top_p), "top-p must be finite");
}

float Sampler::next_uniform() {
    // splitmix64: a full-period generator whose sequence depends only on the seed.
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<float>(z >> 40) / 16777216.0f;
}

int Sampler::sample(const float* logits, int64_t vocab) {
    if (options_.temperature == 0.0f) return argmax(logits, vocab);
    const float peak = logits[argmax(logits, vocab)];
    std::vector<float> probs(static_cast<size_t>(vocab));
    double sum = 0.0;
    for (int64_t i = 0; i < vocab; ++i) {
        probs[static_cast<size_t>(i)] = std::exp((logits[i] - peak) / options_.temperature);
        sum += probs[static_cast<size_t>(i)];
    }
    for (float& p : probs) p = static_cast<float>(p / sum);

    std::vector<int> order(static_cast<size_t>(vocab));
    for (int i = 0; i < vocab; ++i) order[static_cast<size_t>(i)] = i;
    int64_t candidates = vocab;
    if (options_.top_p > 0.0f && options_.top_p < 1.0f) {
        // The smallest set of most likely tokens whose mass exceeds top_p.
        std::sort(order.begin(), order.end(), [&](int a, int b) {
            return probs[static_cast<size_t>(a)] > probs[static_cast<size_t>(b)];
        });
        double mass = 0.0;
        candidates = 0;
        while (candidates < vocab && mass <= options_.top_p)
            mass += probs[static_cast<size_t>(order[static_cast<size_t>(candidates++)])];
    }
    double total = 0.0;
    for (int64_t i = 0; i < candidates; ++i) total += probs[static_cast<size_t>(order[static_cast<size_t>(i)])];
    const double target = next_uniform() * total;
    double acc = 0.0;
    for (int64_t i = 0; i < candidates; ++i) {
        acc += probs[static_cast<size_t>(order[static_cast<size_t>(i)])];
        if (target < acc) return order[static_cast<size_t>(i)];
    }
    return order[static_cast<size_t>(candidates - 1)];  // rounding left target at the very top
}

std::vector<int> generate(Backend& be, const Model& model, const std::vector<int>& prompt, int64_t steps,
                          const SamplingOptions& sampling,
                          const std::function<void(int, int)>& on_token) {
    require_arg(!prompt.empty(), "generation needs a non-empty prompt (at least BOS)");
    steps = std::min(steps, model.config.seq_len);
    require_arg(static_cast<int64_t>(prompt.size()) <= steps,
                "prompt of " + std::to_string(prompt.size()) + " tokens is longer than " +
                    std::to_string(steps) + " steps");
    Sampler sampler(sampling);
    KVCache cache(model, steps);
    std::vector<int> tokens = prompt;
    Matrix out = forward_cached(be, model, cache, prompt);
    const float* last = out.row(out.rows - 1);
    while (true) {
        const int next = sampler.sample(last, out.cols);
        if (next == kBosToken || next == kEosToken) break;
        if (on_token) on_token(tokens.back(), next);
        tokens.push_back(next);
        if (cache.size() >= steps) break;
        out = forward_cached(be, model, cache, {next});
        last = out.row(0);
    }
    return tokens;
}

}  // namespace surgeon::model
