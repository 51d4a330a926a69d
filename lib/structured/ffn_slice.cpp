#include "structured/ffn_slice.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.hpp"

namespace surgeon::structured {

int64_t ffn_hidden(const model::LayerWeights& layer) { return layer.w1.rows; }

void slice_ffn(model::LayerWeights& layer, const std::vector<int64_t>& keep) {
    const int64_t hidden = ffn_hidden(layer);
    require_shape(layer.w3.rows == hidden && layer.w2.cols == hidden,
                  "inconsistent FFN shapes (gate " + std::to_string(hidden) + ", up " +
                      std::to_string(layer.w3.rows) + ", down " + std::to_string(layer.w2.cols) + ")");
    require_arg(!keep.empty(), "an FFN must keep at least one neuron");
    for (size_t i = 0; i < keep.size(); ++i)
        require_arg(keep[i] >= 0 && keep[i] < hidden && (i == 0 || keep[i] > keep[i - 1]),
                    "kept neuron indices must be ascending, unique and < " + std::to_string(hidden));
    const int64_t n = static_cast<int64_t>(keep.size());
    auto take_rows = [&](const Matrix& w) {
        Matrix out(n, w.cols);
        for (int64_t i = 0; i < n; ++i) std::copy(w.row(keep[i]), w.row(keep[i]) + w.cols, out.row(i));
        return out;
    };
    Matrix down(layer.w2.rows, n);
    for (int64_t r = 0; r < layer.w2.rows; ++r)
        for (int64_t i = 0; i < n; ++i) down(r, i) = layer.w2(r, keep[i]);
    layer.w1 = take_rows(layer.w1);
    layer.w3 = take_rows(layer.w3);
    layer.w2 = std::move(down);
}

std::vector<int64_t> top_k_indices(const std::vector<float>& scores, int64_t keep_count) {
    const int64_t n = static_cast<int64_t>(scores.size());
    require_arg(keep_count >= 1 && keep_count <= n,
                "keep count " + std::to_string(keep_count) + " out of [1, " + std::to_string(n) + "]");
    std::vector<int64_t> idx(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), int64_t{0});
    std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
    idx.resize(static_cast<size_t>(keep_count));
    std::sort(idx.begin(), idx.end());
    return idx;
}

std::vector<float> l2_scores(const model::LayerWeights& layer) {
    std::vector<float> s(static_cast<size_t>(ffn_hidden(layer)));
    for (int64_t i = 0; i < ffn_hidden(layer); ++i) {
        double sum = 0.0;
        for (int64_t c = 0; c < layer.w1.cols; ++c)
            sum += static_cast<double>(layer.w1(i, c)) * layer.w1(i, c) +
                   static_cast<double>(layer.w3(i, c)) * layer.w3(i, c);
        s[i] = static_cast<float>(std::sqrt(sum));
    }
    return s;
}

std::vector<float> random_scores(int64_t hidden, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<float> s(static_cast<size_t>(hidden));
    for (float& v : s) v = u(rng);
    return s;
}

}  // namespace surgeon::structured
