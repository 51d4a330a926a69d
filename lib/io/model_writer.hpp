// A checkpoint written one part at a time, with bounded memory: the whole file layout is
// planned from the config and the FFN widths when the writer is created (every tensor's
// shard and byte offset), and each part is converted to the output dtype and written at
// its place as soon as it is given (in any order; writing a part again rewrites the same
// bytes). Until finish(), every file carries a ".partial" suffix, so an interrupted run
// leaves nothing that `surgeon eval` or a Hugging Face loader would take for a finished
// model; finish() flushes the files to disk and renames them, the index and config.json
// last.
//
// Hugging Face output: `model.safetensors` when the model fits one shard, else
// `model-0000i-of-0000N.safetensors` + `model.safetensors.index.json`, each shard at most
// `max_shard_bytes` of tensor data (a tensor larger than the cap gets a shard of its own),
// tensors in the order of the HF state dict (embed_tokens; per block input_layernorm, q, k,
// v, o, post_attention_layernorm, gate, up, down; model.norm; lm_head when untied).
// llama2.c output: one file in run.c's order (F32 only; the RoPE tables are written by
// create()).
//
// The space of every file is reserved when it is created, so a disk too small for the
// model fails at create() rather than hours later.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/output_file.hpp"
#include "io/checkpoint.hpp"
#include "io/safetensors.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

struct WriterOptions {
    ModelFormat format = ModelFormat::hf;
    Dtype dtype = Dtype::F32;                   // HF: F32, F16, BF16; llama2.c: F32
    uint64_t max_shard_bytes = 5'000'000'000;  // HF shard size cap (tensor bytes)
    std::string tokenizer_path;                 // copied into an HF directory by finish()
    // false: create() refuses an output that already holds a finished model (an HF
    // directory with config.json or a .safetensors file, an existing llama2.c file), with
    // SURGEON_ERR_IO. true: the finished model is replaced by finish() (stale shards and
    // index of the old model are removed then); until then the old files stay untouched.
    bool overwrite = false;
};

// "5GB", "500MB", "1.5GB", "2GiB", "64KiB", "123456" (bytes; units are case-insensitive,
// KB/MB/GB/TB powers of 1000, KiB/MiB/GiB/TiB powers of 1024; a fractional byte count is
// rounded down) → bytes. Throws SURGEON_ERR_INVALID_ARGUMENT for anything else, zero or a
// negative size.
uint64_t parse_byte_size(const std::string& text);

class ModelWriter {
public:
    virtual ~ModelWriter() = default;  // closes the files; the .partial files stay

    // Creates the ".partial" files of a new output at `path` (a directory for HF, created
    // when missing; a file for llama2.c, in an existing folder). `ffn_sizes` has one width
    // per block. `resume`: reopen the partial files an earlier writer with the same plan
    // left (their written parts stay), and throw SURGEON_ERR_IO when they are missing or
    // do not match the plan (size, safetensors/llama2.c header). Invalid options are
    // SURGEON_ERR_INVALID_ARGUMENT; what the llama2.c header cannot hold (unequal FFN
    // sizes, removed heads, another RoPE theta or norm eps) is SURGEON_ERR_UNSUPPORTED.
    static std::unique_ptr<ModelWriter> create(const std::string& path, const ModelConfig& config,
                                               const std::vector<int64_t>& ffn_sizes,
                                               const WriterOptions& options, bool resume = false);

    // Shapes must be those of the plan (SURGEON_ERR_SHAPE otherwise). Safe to call from
    // several threads for different parts.
    virtual void write_block(int64_t b, const LayerWeights& layer) = 0;
    // Rows [r0, r0 + rows.rows) of the token embedding / of an untied classifier (a tied
    // model has no classifier to write: SURGEON_ERR_INVALID_ARGUMENT).
    virtual void write_embedding_rows(int64_t r0, const Matrix& rows) = 0;
    virtual void write_classifier_rows(int64_t r0, const Matrix& rows) = 0;
    virtual void write_final_norm(const std::vector<float>& norm) = 0;

    // After a resume: blocks [0, count) were written by the earlier writer, so finish()
    // counts them as present. Which parts are written is tracked in memory only; the other
    // parts (embedding, final norm, classifier) are written again by a resumed caller.
    virtual void mark_written_blocks(int64_t count) = 0;

    // Checks that every planned part was written (else SURGEON_ERR_IO naming the first
    // missing tensor), flushes the files to disk and renames everything to its final name
    // (tokenizer, index, config.json last). Throws SURGEON_ERR_IO on a failed write or
    // rename and leaves the partial files in place. No part may be written afterwards.
    virtual void finish() = 0;

    // Closes and removes the partial files (for a writer whose output will not be resumed).
    virtual void abandon() = 0;

    // The files finish() produces (final names), for reports.
    virtual std::vector<std::string> files() const = 0;
};

// Writes a whole in-memory model through a ModelWriter (create, every part, finish) under
// the temporary name "<path>.partial" (an HF directory is assembled there), then renames it
// to `path` (core/output_file.hpp: StagedOutputs). An existing `path` is refused unless
// options.overwrite (then it is replaced whole, atomically for a file and for a directory
// where the file system can exchange two names); on a failure everything written is
// removed. `model` must pass validate_shapes.
void write_model(const Model& model, const std::string& path, const WriterOptions& options);

// What an output of `format` is on disk: a directory (HF) or a file (llama2.c).
OutputKind output_kind(ModelFormat format);

}  // namespace surgeon::model
