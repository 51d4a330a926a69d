#include "nn/perplexity.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <numeric>
#include <thread>

#include "core/context.hpp"
#include "core/error.hpp"
#include "nn/forward.hpp"
#include "nn/ops.hpp"

namespace surgeon::model {

EvalMode parse_eval_mode(const std::string& name) {
    if (name == "paragraphs") return EvalMode::paragraphs;
    if (name == "windows") return EvalMode::windows;
    fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown evaluation mode '" + name +
                                           "' (expected paragraphs or windows)");
}

const char* eval_mode_name(EvalMode mode) {
    return mode == EvalMode::paragraphs ? "paragraphs" : "windows";
}

Range parse_range(const std::string& text) {
    const size_t colon = text.find(':');
    require_arg(colon != std::string::npos, "range '" + text + "' is not of the form a:b");
    auto bound = [&](const std::string& part, int64_t empty_value) -> int64_t {
        if (part.empty()) return empty_value;
        size_t used = 0;
        long long v = -1;
        try {
            v = std::stoll(part, &used);
        } catch (...) {
            used = 0;
        }
        require_arg(used == part.size() && v >= 0, "range '" + text + "' needs non-negative integers");
        return v;
    };
    Range r{bound(text.substr(0, colon), 0), bound(text.substr(colon + 1), -1)};
    require_arg(r.end < 0 || r.begin <= r.end, "range '" + text + "' is empty or reversed");
    return r;
}

Range resolve_range(const Range& range, int64_t count, const char* unit, const char* source) {
    const int64_t end = range.end < 0 ? count : std::min(range.end, count);
    require_arg(range.begin >= 0 && range.begin <= end,
                std::string(unit) + " " + std::to_string(range.begin) + ":" +
                    (range.end < 0 ? std::string() : std::to_string(range.end)) + " requested, " +
                    source + " has " + std::to_string(count));
    return {range.begin, end};
}

std::vector<std::string> split_paragraphs(const std::string& text) {
    static const char* const kSpace = " \t\n\r\v\f";
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= text.size()) {
        size_t stop = text.find("\n\n", start);
        if (stop == std::string::npos) stop = text.size();
        const size_t first = text.find_first_not_of(kSpace, start);
        if (first != std::string::npos && first < stop) {
            const size_t last = text.find_last_not_of(kSpace, stop - 1);
            out.push_back(text.substr(first, last + 1 - first));
        }
        start = stop + 2;
    }
    return out;
}

std::vector<std::vector<int>> window_sequences(const std::vector<int>& tokens, Range range,
                                               int64_t seq_len) {
    require_arg(seq_len >= 2, "sequence length must be at least 2");
    const Range r = resolve_range(range, static_cast<int64_t>(tokens.size()) / seq_len, "windows",
                                  "the token stream");
    std::vector<std::vector<int>> out;
    for (int64_t w = r.begin; w < r.end; ++w)
        out.emplace_back(tokens.begin() + w * seq_len, tokens.begin() + (w + 1) * seq_len);
    return out;
}

namespace {

// The classifier is read this many bytes of rows at a time.
constexpr uint64_t kClassifierChunkBytes = uint64_t{64} << 20;

// Running log-sum-exp over the vocabulary of one position, fed a chunk of logits at a time.
struct LogSumExp {
    float peak = -std::numeric_limits<float>::infinity();
    double sum = 0.0;
    void add(const float* z, int64_t n) {
        const float chunk_peak = *std::max_element(z, z + n);
        if (chunk_peak > peak) {
            sum *= std::exp(static_cast<double>(peak - chunk_peak));
            peak = chunk_peak;
        }
        for (int64_t v = 0; v < n; ++v) sum += std::exp(static_cast<double>(z[v] - peak));
    }
    double value() const { return std::log(sum) + peak; }
};

// NLL sums of the sequences `batch` (indices into `sequences`), all held through the model
// one block at a time.
void score_batch(Backend& be, const ModelSource& source, const std::vector<std::vector<int>>& sequences,
                 const std::vector<int64_t>& batch, std::vector<double>& nll) {
    const ModelConfig& c = source.config();
    const auto n = static_cast<int64_t>(batch.size());
    std::vector<Matrix> x(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
        const auto& tokens = sequences[static_cast<size_t>(batch[i])];
        // The last position predicts nothing inside the sequence.
        x[i] = source.embed(std::vector<int>(tokens.begin(), tokens.end() - 1));
    }
    for (int64_t b = 0; b < source.n_blocks(); ++b) {
        const LayerWeights layer = source.block(b);
        parallel_for_each(be, n, [&](int64_t i, Backend& item_be) {
            x[static_cast<size_t>(i)] = block_forward(item_be, c, layer, x[static_cast<size_t>(i)]);
        });
    }
    const std::vector<float> norm = source.final_norm();
    require_shape(static_cast<int64_t>(norm.size()) == c.dim, "final norm does not match the model dim");
    for (Matrix& h : x) h = ops::rmsnorm(h, norm, c.norm_eps);
    std::vector<std::vector<LogSumExp>> lse(batch.size());
    std::vector<std::vector<float>> target(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
        lse[i].resize(static_cast<size_t>(x[i].rows));
        target[i].resize(static_cast<size_t>(x[i].rows));
    }
    const int64_t chunk = std::max<int64_t>(
        1, std::min<int64_t>(c.vocab_size, static_cast<int64_t>(kClassifierChunkBytes / (sizeof(float) * c.dim))));
    for (int64_t r0 = 0; r0 < c.vocab_size; r0 += chunk) {
        const int64_t r1 = std::min(c.vocab_size, r0 + chunk);
        const Matrix cls = source.classifier_rows(r0, r1);
        parallel_for_each(be, n, [&](int64_t i, Backend& item_be) {
            const auto s = static_cast<size_t>(i);
            const auto& tokens = sequences[static_cast<size_t>(batch[s])];
            const Matrix z = ops::apply_linear(item_be, x[s], cls);
            for (int64_t t = 0; t < z.rows; ++t) {
                lse[s][static_cast<size_t>(t)].add(z.row(t), z.cols);
                const int next = tokens[static_cast<size_t>(t + 1)];
                if (next >= r0 && next < r1) target[s][static_cast<size_t>(t)] = z(t, next - r0);
            }
        });
    }
    for (size_t i = 0; i < batch.size(); ++i) {
        double total = 0.0;
        for (size_t t = 0; t < lse[i].size(); ++t) total += lse[i][t].value() - target[i][t];
        require(std::isfinite(total), SURGEON_ERR_NUMERIC,
                "the negative log-likelihood of sequence " + std::to_string(batch[i]) + " is " +
                    std::to_string(total) + ": the model gives non-finite logits");
        nll[static_cast<size_t>(batch[i])] = total;
    }
}

// Per sequence, the sum of -log p(token[t+1] | tokens[..t]).
std::vector<double> sequence_nlls(Backend& be, const ModelSource& source,
                                  const std::vector<std::vector<int>>& sequences, uint64_t state_budget_bytes) {
    const auto n = static_cast<int64_t>(sequences.size());
    for (const auto& seq : sequences)
        for (size_t t = 0; t < seq.size(); ++t)
            require_arg(seq[t] >= 0 && seq[t] < source.config().vocab_size,
                        "token " + std::to_string(seq[t]) + " at position " + std::to_string(t) +
                            " is outside the vocabulary of " + std::to_string(source.config().vocab_size));
    // Longest first, so the workers taking the next sequence do not end on a long one.
    std::vector<int64_t> order;
    for (int64_t i = 0; i < n; ++i)
        if (sequences[static_cast<size_t>(i)].size() >= 2) order.push_back(i);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return sequences[static_cast<size_t>(a)].size() > sequences[static_cast<size_t>(b)].size();
    });
    std::vector<double> nll(static_cast<size_t>(n), 0.0);
    const uint64_t row_bytes = sizeof(float) * static_cast<uint64_t>(source.config().dim);
    std::vector<int64_t> batch;
    uint64_t batch_bytes = 0;
    for (size_t k = 0; k <= order.size(); ++k) {
        const uint64_t bytes =
            k < order.size() ? row_bytes * (sequences[static_cast<size_t>(order[k])].size() - 1) : 0;
        if (!batch.empty() && (k == order.size() || batch_bytes + bytes > state_budget_bytes)) {
            score_batch(be, source, sequences, batch, nll);
            batch.clear();
            batch_bytes = 0;
        }
        if (k < order.size()) {
            batch.push_back(order[k]);
            batch_bytes += bytes;
        }
    }
    return nll;
}

}  // namespace

double sequence_nll(Backend& be, const Model& model, const std::vector<int>& tokens) {
    return sequence_nlls(be, InMemorySource(model), {tokens}, kDefaultStateBudget)[0];
}

PerplexityResult evaluate_sequences(Backend& be, const ModelSource& source,
                                    const std::vector<std::vector<int>>& sequences, uint64_t state_budget_bytes) {
    const auto start = std::chrono::steady_clock::now();
    PerplexityResult r;
    r.sequences = static_cast<int64_t>(sequences.size());
    for (const auto& seq : sequences) r.tokens += std::max<int64_t>(0, static_cast<int64_t>(seq.size()) - 1);
    // A perplexity over no predictions is 0/0, not 1.
    require_arg(r.tokens > 0, std::to_string(r.sequences) + " sequences with no token to predict: nothing to score");
    const std::vector<double> nll = sequence_nlls(be, source, sequences, state_budget_bytes);
    double total = 0.0;
    for (size_t i = 0; i < sequences.size(); ++i) total += nll[i];  // summed in input order: reproducible
    r.nll = total / static_cast<double>(r.tokens);
    r.ppl = std::exp(r.nll);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

PerplexityResult evaluate_sequences(Backend& be, const Model& model,
                                    const std::vector<std::vector<int>>& sequences) {
    return evaluate_sequences(be, InMemorySource(model), sequences, kDefaultStateBudget);
}

}  // namespace surgeon::model
