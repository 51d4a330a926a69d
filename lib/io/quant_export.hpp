// What the packed-checkpoint writers share (io/gptq_export, io/ct_export): the LSB-first
// bit stream that both pack integer codes into, the plan of a run (how each linear will be
// quantized, known from the recipe before any work, so an export that cannot be written
// is refused before the compression starts), the check that quantization results belong
// to a model, and the safetensors file of a Hugging Face directory whose quantized linears
// a format-specific callback writes. See docs/formats.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/safetensors.hpp"
#include "layer/quant/quantizer.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

// Number of 32-bit words that hold `count` values of `bits` bits (the last one zero-padded).
int64_t packed_words(int64_t count, int bits);

// LSB-first bit stream over consecutive 32-bit words: value k occupies bits
// [k·bits, (k+1)·bits) of the stream, so a value may span two words (3, 5, 6, 7 bits);
// the bits after the last value are zero. pack_bits writes packed_words(count, bits)
// words, word w at words[w·word_stride] (so a column of a matrix can be packed in place);
// unpack_bits reads them. bits in [1, 32]; a value that does not fit is refused.
void pack_bits(const uint32_t* values, int64_t count, int bits, uint32_t* words, int64_t word_stride);
void unpack_bits(const uint32_t* words, int64_t word_stride, int64_t count, int bits, uint32_t* values);

// How a run quantizes one linear, from its recipe plan.
struct LinearExportPlan {
    std::string name;          // "layers.<block>.<wq|wk|wv|wo|w1|w2|w3>"
    int64_t rows = 0, cols = 0;
    bool quantized = false;    // false: the linear stays dense (pruned or untouched)
    bool mixed = false;        // per-row bit widths (mixed precision)
    bool solver = false;       // GPTQ-solved (gptq, sparsegpt with bits), not round-to-nearest
    int bits = 0;
    int64_t group_size = 0;    // the recipe's "group": 0 or >= cols is one group per row
    bool sym = true, act_order = false, static_groups = false;
    bool mse = false;          // grids chosen by the MSE search instead of min/max
    double damp = 0.01;

    // Columns per group in the checkpoint: -1 when one group spans the row.
    int64_t checkpoint_group() const { return group_size > 0 && group_size < cols ? group_size : -1; }
};

// The Hugging Face module path of a linear ("layers.3.w2" -> "model.layers.3.mlp.down_proj").
std::string hf_module_of(const std::string& layer_name);

// Refuses (SURGEON_ERR_UNSUPPORTED) a model whose blocks hold parts the packed exports do
// not write: attention biases, q/k norms, routed experts. `what` names the export.
void check_packed_exportable(const ModelConfig& config, const std::string& what);

// Checks that every result names a linear of `model` ("layers.<block>.<linear>") and has
// its shape; `what` prefixes the messages. Throws SURGEON_ERR_INVALID_ARGUMENT / SHAPE.
void check_results_fit_model(const Model& model, const std::map<std::string, QuantResult>& quantized,
                             const std::string& what);

// Writes `path` (one safetensors file) for an HF directory: embeddings, norms, lm_head and
// the linears without a result as dense `dtype` tensors; each linear with a result goes to
// `write_linear` with its HF prefix ("model.layers.0.self_attn.q_proj") and the result in
// the HF row order (q/k rows permuted to rotate-half). Returns the number of dense linears.
using QuantLinearWriter =
    std::function<void(SafetensorsWriter& writer, const std::string& prefix, const QuantResult& q)>;
int64_t write_quantized_safetensors(const Model& model, const std::map<std::string, QuantResult>& quantized,
                                    Dtype dtype, const std::string& path, const QuantLinearWriter& write_linear);

// Writes `json` to `path` (2-space indent, trailing newline); SURGEON_ERR_IO on failure.
void write_json_file(const std::string& path, const nlohmann::ordered_json& json);

}  // namespace surgeon::model
