// A checkpoint written one part at a time, with bounded memory: the whole file layout is
// planned from the config and the FFN widths when the writer is created (every tensor's
// shard and byte offset), and each part is converted to the output dtype and written at
// its place as soon as it is given. Until finish(), every file carries a ".partial"
// suffix, so an interrupted run leaves nothing that `surgeon eval` or a Hugging Face
// loader would take for a finished model; finish() flushes the files to disk and renames
// them, the index and config.json last.
//
// Hugging Face output: `model.safetensors` when the model fits one shard, else
// `model-0000i-of-0000N.safetensors` + `model.safetensors.index.json`, each shard at most
// `max_shard_bytes` (a tensor larger than the cap gets a shard of its own), tensors in the
// order of the HF state dict. llama2.c output: one file in run.c's order (F32 only).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "io/safetensors.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

struct WriterOptions {
    ModelFormat format = ModelFormat::hf;
    Dtype dtype = Dtype::F32;                   // HF: F32, F16, BF16; llama2.c: F32
    uint64_t max_shard_bytes = 5'000'000'000;  // HF shard size cap
    std::string tokenizer_path;                 // copied into an HF directory by finish()
};

// "5GB", "500MB", "2GiB", "123456" (bytes) → bytes. Throws SURGEON_ERR_INVALID_ARGUMENT.
uint64_t parse_byte_size(const std::string& text);

class ModelWriter {
public:
    virtual ~ModelWriter() = default;

    // Creates the ".partial" files of a new output at `path` (a directory for HF, a file
    // for llama2.c). `ffn_sizes` has one width per block. `resume`: reopen the partial
    // files an earlier writer with the same plan left (their written parts stay), and
    // throw SURGEON_ERR_IO when they are missing or do not match the plan.
    static std::unique_ptr<ModelWriter> create(const std::string& path, const ModelConfig& config,
                                               const std::vector<int64_t>& ffn_sizes,
                                               const WriterOptions& options, bool resume = false);

    virtual void write_block(int64_t b, const LayerWeights& layer) = 0;
    // Rows [r0, r0 + rows.rows) of the token embedding / of an untied classifier.
    virtual void write_embedding_rows(int64_t r0, const Matrix& rows) = 0;
    virtual void write_classifier_rows(int64_t r0, const Matrix& rows) = 0;
    virtual void write_final_norm(const std::vector<float>& norm) = 0;

    // Flushes and renames everything to its final name (config.json, tokenizer, index
    // last). Throws SURGEON_ERR_IO on a failed write (a full disk) and leaves the partial
    // files in place.
    virtual void finish() = 0;

    // The files finish() produces (final names), for reports.
    virtual std::vector<std::string> files() const = 0;
};

}  // namespace surgeon::model
