// The state a streamed compression leaves after each finished block, so that a killed run
// can be resumed: `state.json` (key, blocks done, the report so far), the calibration
// activations at the block boundary (`states-<blocks done>.f32`) and, when the packed codes
// are kept, one `quant-<block>.bin` per block. Every file is written under a temporary
// name and renamed; state.json is renamed last, so the state on disk is always that of a
// finished block.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compress/activations.hpp"
#include "compress/bytes.hpp"
#include "compress/pipeline.hpp"
#include "compress/recipe.hpp"

namespace surgeon::model {

struct RunState {
    std::string key;         // hex hash of the command line and the source
    int64_t blocks_done = 0;
    CompressionReport report;  // layers (without codes) and blocks of the finished blocks
};

// 16 hex digits of a 64-bit FNV-1a hash.
std::string hash_key(const std::string& text);

// Writes the state after `state.blocks_done` blocks: the activations of `states`, then
// state.json. Removes the activations of the previous block. Throws SURGEON_ERR_IO.
void save_run_state(const std::string& dir, const RunState& state, const ActivationStore& states);

// Reads state.json; false when the directory holds none. Layers saved with codes come back
// with an empty `quant` for load_block_quant to fill. The layers' plans come from
// `recipe` (and `row_budget` for layers of a model-wide budget). Throws SURGEON_ERR_IO for
// a malformed state.
bool load_run_state(const std::string& dir, const Recipe& recipe, const RowBudget* row_budget, RunState* state);

// Fills `states` (which has one slot per sequence) with the activations saved with the
// state. Throws SURGEON_ERR_IO when they are missing or do not match.
void load_run_states(const std::string& dir, int64_t blocks_done, ActivationStore& states);

// The packed codes of one block's quantized layers (in report order).
void save_block_quant(const std::string& dir, int64_t block, const std::vector<const CompressedLayer*>& layers);
void load_block_quant(const std::string& dir, int64_t block, std::vector<CompressedLayer*>& layers);

// A compressed layer (its report entry and codes) as a message between ranks; decoding
// takes the plan from `recipe` as load_run_state does.
void encode_layer(ByteWriter& w, const CompressedLayer& layer);
CompressedLayer decode_layer(ByteReader& r, const Recipe& recipe, const RowBudget* row_budget);

}  // namespace surgeon::model
