// Whole-model compression streamed from a checkpoint to a checkpoint, one block in memory
// at a time (the true-sequential protocol of pipeline.hpp). The source is read part by
// part (nn/model_source.hpp: a memory map of the files for a checkpoint on disk), each
// block is materialized in fp32, compressed on the calibration activations at its input,
// written to the output (io/model_writer.hpp) and released before the next one; the token
// embedding, final norm and classifier are copied through in chunks of rows. Memory is one
// block, the calibration activations (in RAM, or spilled to a directory) and one solver.
//
// Resumable: with a run directory, the state after every finished block (blocks done, the
// activations at the block boundary, the report so far, the packed codes when kept) is
// written there, and a resumed run continues from the last finished block and writes the
// same bytes as an uninterrupted run. The state records a key of the command line and the
// source; a resume with another key is refused.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compress/pipeline.hpp"
#include "compress/recipe.hpp"
#include "compress/reducer.hpp"
#include "core/context.hpp"
#include "io/model_writer.hpp"
#include "nn/model_source.hpp"

namespace surgeon::model {

struct StreamOptions {
    std::string offload_dir;  // calibration activations spilled here ("" = in memory)
    std::string run_dir;      // resume state, written after every block ("" = none); removed at the end
    bool resume = false;      // continue from the state in run_dir
    std::string run_key;      // what makes two runs the same (the command line); hashed with the source
    bool keep_quant = false;  // keep every quantized layer's codes in the report (packed export)
    // The ranks of a data-parallel run (compress/reducer.hpp; null: one process). Each rank
    // embeds and runs its share of the sequences; run_dir and offload_dir of rank r > 0 get
    // a "rank-<r>" subfolder. Every rank returns the same report, with the per-rank seconds
    // on rank 0.
    Reducer* reducer = nullptr;
};

// Compresses `source` into `writer` (which finish() completes; null on the ranks of a
// data-parallel run that write nothing). `calibration` holds token
// sequences (each starting with BOS as evaluation does). Layers of the recipe that need
// the dense model as a whole (output Fisher, a model-wide budget) plan on a materialized
// copy of the source first.
// Errors: SURGEON_ERR_IO for a resume without state or with the state of another run, and
// for failed reads and writes; what compress_model throws otherwise.
CompressionReport compress_streamed(const ModelSource& source, ModelWriter* writer,
                                    const std::vector<std::vector<int>>& calibration, const Recipe& recipe,
                                    const ContextPtr& ctx, const StreamOptions& options,
                                    const BlockProgress& progress = {});

// Bytes of RAM a streamed run needs, by part.
struct MemoryEstimate {
    uint64_t block_weights = 0;  // one block in fp32 and the tensor being converted
    uint64_t activations = 0;    // calibration activations held in RAM
    uint64_t solver = 0;         // Hessian, its factor and the solver's work space
    uint64_t dense_model = 0;    // a materialized dense model (Fisher, model-wide budget)
    uint64_t total() const { return block_weights + activations + solver + dense_model; }
};
// `tokens`: total calibration tokens; `longest`: the longest sequence. With `offloaded`,
// activations in RAM are those of one sequence.
MemoryEstimate estimate_stream_memory(const ModelSource& source, int64_t tokens, int64_t longest,
                                      bool offloaded, bool needs_dense_model);

// The run directory that goes with an output path: "<out>/.surgeon-run" for a directory
// output, "<out>.surgeon-run" for a file.
std::string run_dir_for(const std::string& out, ModelFormat format);

}  // namespace surgeon::model
