// GGUF (version 3) files for llama.cpp and the runtimes built on it: the "llama"
// architecture keys, the llama2.c tokenizer as tokenizer.ggml.model "llama", and the
// tensors under llama.cpp's names (token_embd, blk.N.attn_q, ..., output_norm, output).
// The Model's q/k rows are already in the interleaved (adjacent-pair) RoPE layout that
// llama.cpp's LLM_ARCH_LLAMA applies, so they are written as they are.
//
// Tensor types: F32, F16, BF16, and ggml's block formats Q8_0 (32 values: fp16 d, 32 int8
// q; x = d·q) and Q4_0 (32 values: fp16 d, 16 bytes; byte j holds value j in its low
// nibble and value j + 16 in its high nibble, each as q + 8; x = d·q). Norms are F32.
// A linear layer is written
//  - from its QuantResult when one is given: the codes and fp16 scales of the ggml grid
//    (layer/quant/quantizer.hpp, GridKind::ggml) are the blocks, bit for bit;
//  - quantized by round-to-nearest exactly as ggml's reference quantizer does (llama.cpp's
//    llama-quantize) when `rtn` asks for it;
//  - otherwise in the float type.
// A layer whose width is not a multiple of 32 cannot hold 32-value blocks: like
// llama-quantize's last resort for such shapes, it is written in the float type
// (F16 for an RTN conversion).
// llama.cpp's llama architecture has one FFN size: the FFN of a layer narrower than the
// widest (FFN slicing) is padded with zero neurons, which leave its output unchanged.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/tokenizer.hpp"
#include "layer/quant/quantizer.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

// ggml_type values.
enum class GgufType : uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, BF16 = 30 };

const char* gguf_type_name(GgufType t);  // "F32", "F16", "Q4_0", "Q8_0", "BF16"
// "f32" | "f16" | "bf16" | "q8_0" | "q4_0" (case-insensitive); throws SURGEON_ERR_INVALID_ARGUMENT.
GgufType parse_gguf_type(const std::string& name);
bool gguf_is_quantized(GgufType t);
// Bytes of n values (n a multiple of 32 for the block types).
uint64_t gguf_bytes(GgufType t, int64_t n);

// The ggml block type a quantized layer maps onto: Q4_0 or Q8_0 when `q` is exactly a
// ggml-grid result (4 or 8 bits for every row, groups of 32 columns in column order, zeros
// 8 or 128, fp16 scales, cols a multiple of 32); nullopt with `why` (nullable) set otherwise.
std::optional<GgufType> gguf_block_type(const QuantResult& q, std::string* why = nullptr);

// One row of `cols` values as Q4_0 / Q8_0 blocks (`out`: gguf_bytes(t, cols) bytes).
// From a ggml-grid QuantResult (row r):
void encode_blocks(const QuantResult& q, int64_t r, GgufType t, uint8_t* out);
// From floats, by ggml's round-to-nearest reference (quantize_row_q4_0_ref / q8_0_ref):
void quantize_blocks_rtn(const float* x, int64_t cols, GgufType t, uint8_t* out);

struct GgufOptions {
    GgufType float_type = GgufType::F32;    // F32, F16 or BF16: tensors left unquantized
    std::optional<GgufType> rtn;            // Q4_0 / Q8_0: RTN every linear layer that fits
    std::optional<GgufType> embedding_type;  // token_embd / output; default float_type
    std::string name;                       // general.name ("" = none)
};

struct GgufSummary {
    std::string file_type;                  // general.file_type, by name ("MOSTLY_Q4_0", ...)
    std::map<std::string, int64_t> tensors;  // tensor count per type name
    std::vector<std::string> fallbacks;     // "blk.0.ffn_down.weight: 172 columns -> F16"
    std::vector<int64_t> ffn_padded;        // blocks whose FFN got zero neurons
    uint64_t bytes = 0;                     // file size
};

// Writes `model` with `tokenizer` (its vocabulary must be the model's) as a GGUF file at
// `path` (through "<path>.partial", renamed when complete). `quantized` holds ggml-grid
// results by layer name ("layers.<b>.<wq|...|w3>"); a result that is not one, or whose
// shape differs from the layer's, is SURGEON_ERR_UNSUPPORTED / SURGEON_ERR_SHAPE, and so
// is a quantized w2 of a layer whose FFN needs padding (its blocks cannot take the zero
// columns). Throws SURGEON_ERR_IO when the file cannot be written.
GgufSummary write_gguf(const Model& model, const Tokenizer& tokenizer,
                       const std::map<std::string, QuantResult>& quantized, const std::string& path,
                       const GgufOptions& options);

// The GGUF name of a linear layer ("layers.3.w2" -> "blk.3.ffn_down.weight").
std::string gguf_tensor_name(int64_t block, const std::string& linear);

}  // namespace surgeon::model
