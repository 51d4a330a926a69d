#include "nn/perplexity.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <numeric>
#include <thread>

#include "core/context.hpp"
#include "core/error.hpp"
#include "nn/forward.hpp"

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

Range resolve_range(const Range& range, int64_t count) {
    const int64_t end = range.end < 0 ? count : std::min(range.end, count);
    require_arg(range.begin >= 0 && range.begin <= end,
                "range [" + std::to_string(range.begin) + ", " + std::to_string(range.end) +
                    ") does not fit the " + std::to_string(count) + " available");
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
    const Range r = resolve_range(range, static_cast<int64_t>(tokens.size()) / seq_len);
    std::vector<std::vector<int>> out;
    for (int64_t w = r.begin; w < r.end; ++w)
        out.emplace_back(tokens.begin() + w * seq_len, tokens.begin() + (w + 1) * seq_len);
    return out;
}

double sequence_nll(Backend& be, const Model& model, const std::vector<int>& tokens) {
    if (tokens.size() < 2) return 0.0;
    // The last position predicts nothing inside the sequence.
    const Matrix z = forward(be, model, std::vector<int>(tokens.begin(), tokens.end() - 1));
    double total = 0.0;
    for (int64_t t = 0; t < z.rows; ++t) {
        const float* row = z.row(t);
        const float peak = *std::max_element(row, row + z.cols);
        double sum = 0.0;
        for (int64_t v = 0; v < z.cols; ++v) sum += std::exp(static_cast<double>(row[v] - peak));
        total += std::log(sum) + peak - row[tokens[static_cast<size_t>(t + 1)]];
    }
    return total;
}

PerplexityResult evaluate_sequences(Backend& be, const Model& model,
                                    const std::vector<std::vector<int>>& sequences) {
    const auto start = std::chrono::steady_clock::now();
    const auto n = static_cast<int64_t>(sequences.size());
    // Longest first, so the workers taking the next sequence do not end on a long one.
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return sequences[static_cast<size_t>(a)].size() > sequences[static_cast<size_t>(b)].size();
    });
    std::vector<double> nll(static_cast<size_t>(n), 0.0);
    parallel_for_each(be, n, [&](int64_t i, Backend& worker_be) {
        const auto s = static_cast<size_t>(order[static_cast<size_t>(i)]);
        nll[s] = sequence_nll(worker_be, model, sequences[s]);
    });

    PerplexityResult r;
    r.sequences = n;
    double total = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        total += nll[static_cast<size_t>(i)];  // summed in input order: reproducible
        r.tokens += std::max<int64_t>(0, static_cast<int64_t>(sequences[static_cast<size_t>(i)].size()) - 1);
    }
    r.nll = r.tokens > 0 ? total / static_cast<double>(r.tokens) : 0.0;
    r.ppl = std::exp(r.nll);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

}  // namespace surgeon::model
