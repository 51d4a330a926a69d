// A model read one part at a time: the config up front, then a block, a range of embedding
// or classifier rows, the final norm, each materialized in fp32 only when asked for. The
// checkpoint readers (io/model_reader.hpp) implement it over a memory map of the files,
// so a pass over a model holds one block at a time; InMemorySource serves a Model already
// in memory. Every implementation validates the whole checkpoint (shapes, dtypes, files)
// when it is opened, so a part read later never fails on a malformed file (a reader may
// still refuse a part's content, such as a non-finite llama2.c weight, when it reads it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/matrix.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

class ModelSource {
public:
    virtual ~ModelSource() = default;

    const ModelConfig& config() const { return config_; }
    // Evaluates with `bits`-wide per-token activation quantization (ModelConfig::act_bits;
    // 0: float activations) instead of what the checkpoint records. Throws
    // SURGEON_ERR_INVALID_ARGUMENT outside {0} ∪ [2, 16].
    void set_activation_bits(int bits);
    int64_t n_blocks() const { return config_.n_layers; }
    // FFN width of block b (structured pruning may leave blocks unequal).
    int64_t ffn_size(int64_t b) const;
    const std::vector<int64_t>& ffn_sizes() const { return ffn_sizes_; }

    // Block b's weights in fp32 (llama2.c layout, as in Model). Throws SURGEON_ERR_INVALID_ARGUMENT
    // for b outside [0, n_blocks).
    virtual LayerWeights block(int64_t b) const = 0;
    virtual std::vector<float> final_norm() const = 0;
    // Rows [r0, r1) of the token embedding (vocab × dim) and of the classifier (the
    // embedding when config().shared_classifier). Throws for a range outside [0, vocab].
    virtual Matrix embedding_rows(int64_t r0, int64_t r1) const = 0;
    virtual Matrix classifier_rows(int64_t r0, int64_t r1) const = 0;

    // T × dim embeddings of `tokens`, reading only their rows. Throws
    // SURGEON_ERR_INVALID_ARGUMENT for an id outside the vocabulary.
    Matrix embed(const std::vector<int>& tokens) const;

    // Identifies the stored model (for a resumed run to check it reads the same source):
    // the files with their sizes and modification times, or "memory:<address>".
    virtual std::string fingerprint() const = 0;

protected:
    // Throws SURGEON_ERR_INVALID_ARGUMENT unless 0 <= r0 <= r1 <= vocab_size.
    void check_rows(int64_t r0, int64_t r1) const;

    ModelConfig config_;
    std::vector<int64_t> ffn_sizes_;  // n_layers entries
};

// A view of a Model in memory (not owning: `model` must outlive the source).
class InMemorySource : public ModelSource {
public:
    explicit InMemorySource(const Model& model);
    LayerWeights block(int64_t b) const override;
    std::vector<float> final_norm() const override;
    Matrix embedding_rows(int64_t r0, int64_t r1) const override;
    Matrix classifier_rows(int64_t r0, int64_t r1) const override;
    std::string fingerprint() const override;

private:
    const Model& model_;
};

// Reads every part of `source` into a Model (validate_shapes holds on the result).
Model materialize(const ModelSource& source);

}  // namespace surgeon::model
