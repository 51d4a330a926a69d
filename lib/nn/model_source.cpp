#include "nn/model_source.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/error.hpp"

namespace surgeon::model {

void ModelSource::set_activation_bits(int bits) {
    require_arg(bits == 0 || (bits >= 2 && bits <= 16),
                "activation bits must be 0 (float) or in [2, 16], got " + std::to_string(bits));
    config_.act_bits = bits;
}

int64_t ModelSource::ffn_size(int64_t b) const {
    require_arg(b >= 0 && b < n_blocks() && static_cast<size_t>(b) < ffn_sizes_.size(),
                "block " + std::to_string(b) + " is outside [0, " + std::to_string(n_blocks()) + ")");
    return ffn_sizes_[static_cast<size_t>(b)];
}

void ModelSource::check_rows(int64_t r0, int64_t r1) const {
    require_arg(r0 >= 0 && r0 <= r1 && r1 <= config_.vocab_size,
                "rows [" + std::to_string(r0) + ", " + std::to_string(r1) + ") are outside the vocabulary of " +
                    std::to_string(config_.vocab_size));
}

Matrix ModelSource::embed(const std::vector<int>& tokens) const {
    const int64_t vocab = config_.vocab_size, dim = config_.dim;
    for (size_t t = 0; t < tokens.size(); ++t)
        require_arg(tokens[t] >= 0 && tokens[t] < vocab,
                    "token " + std::to_string(tokens[t]) + " at position " + std::to_string(t) +
                        " is outside the vocabulary of " + std::to_string(vocab));
    // The distinct ids, read in windows of at most kWindow rows (one read serves every id
    // in it): few reads for a long sequence, one window of rows in memory at a time.
    constexpr int kWindow = 256;
    std::vector<int> ids(tokens);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    Matrix rows(static_cast<int64_t>(ids.size()), dim);  // row i: the embedding of ids[i]
    for (size_t i = 0; i < ids.size();) {
        size_t j = i + 1;
        while (j < ids.size() && ids[j] - ids[i] < kWindow) ++j;
        const Matrix window = embedding_rows(ids[i], ids[j - 1] + 1);
        for (size_t k = i; k < j; ++k)
            std::memcpy(rows.row(static_cast<int64_t>(k)), window.row(ids[k] - ids[i]),
                        sizeof(float) * static_cast<size_t>(dim));
        i = j;
    }
    Matrix x(static_cast<int64_t>(tokens.size()), dim);
    for (size_t t = 0; t < tokens.size(); ++t) {
        const auto at = std::lower_bound(ids.begin(), ids.end(), tokens[t]) - ids.begin();
        std::memcpy(x.row(static_cast<int64_t>(t)), rows.row(at), sizeof(float) * static_cast<size_t>(dim));
    }
    return x;
}

InMemorySource::InMemorySource(const Model& model) : model_(model) {
    validate_shapes(model);
    config_ = model.config;
    for (const LayerWeights& L : model.layers) ffn_sizes_.push_back(L.w1.rows);
}

LayerWeights InMemorySource::block(int64_t b) const {
    ffn_size(b);  // range check
    return model_.layers[static_cast<size_t>(b)];
}

std::vector<float> InMemorySource::final_norm() const { return model_.rms_final; }

namespace {
Matrix row_range(const Matrix& m, int64_t r0, int64_t r1) {
    Matrix out(r1 - r0, m.cols);
    std::copy(m.data.begin() + r0 * m.cols, m.data.begin() + r1 * m.cols, out.data.begin());
    return out;
}
}  // namespace

Matrix InMemorySource::embedding_rows(int64_t r0, int64_t r1) const {
    check_rows(r0, r1);
    return row_range(model_.tok_emb, r0, r1);
}

Matrix InMemorySource::classifier_rows(int64_t r0, int64_t r1) const {
    check_rows(r0, r1);
    return row_range(model_.classifier(), r0, r1);
}

std::string InMemorySource::fingerprint() const {
    char address[32];
    std::snprintf(address, sizeof address, "%p", static_cast<const void*>(&model_));
    return std::string("memory:") + address;
}

Model materialize(const ModelSource& source) {
    Model m;
    m.config = source.config();
    const int64_t vocab = m.config.vocab_size;
    m.tok_emb = source.embedding_rows(0, vocab);
    m.layers.reserve(static_cast<size_t>(source.n_blocks()));
    for (int64_t b = 0; b < source.n_blocks(); ++b) m.layers.push_back(source.block(b));
    m.rms_final = source.final_norm();
    if (!m.config.shared_classifier) m.wcls = source.classifier_rows(0, vocab);
    validate_shapes(m);
    return m;
}

}  // namespace surgeon::model
