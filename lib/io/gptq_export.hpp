// Packed GPTQ checkpoints in the "gptq" format of GPTQ-for-LLaMa / AutoGPTQ / GPTQModel /
// transformers+optimum. Each quantized linear `<p>` (nn.Linear, weight [out][in]) becomes
//   <p>.qweight  I32 [in·bits/32, out]   codes packed along the input dimension
//   <p>.qzeros   I32 [groups, out·bits/32] zero points packed along the output dimension
//   <p>.scales   F16 [groups, out]
//   <p>.g_idx    I32 [in]                 group of each input channel
// Packing is an LSB-first bit stream over consecutive 32-bit words: value k occupies bits
// [k·bits, (k+1)·bits) of the stream. For 2/4/8 bits this is 32/bits values per word; for
// 3 bits it is exactly the classic interleaved layout (32 values in 3 words, values 10 and
// 21 straddling word boundaries). The loader computes
//   W[o][j] = scales[g][o] · (q[j][o] − z[g][o]),  g = g_idx[j],
// where z is the stored zero plus 1 in the classic "gptq" (v1) format and the stored zero
// itself in "gptq_v2". v1 therefore cannot represent a zero point of 0 (asymmetric groups
// whose values are all ≥ 0): export refuses it and suggests gptq_v2. in and out must be
// multiples of 32 (the loaders size their buffers with in/32·bits). See docs/formats.md.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/matrix.hpp"
#include "nn/model.hpp"
#include "io/safetensors.hpp"
#include "layer/quant/quantizer.hpp"

namespace surgeon::model {

enum class GptqFormat { v1, v2 };  // checkpoint_format "gptq" (zeros stored minus 1) / "gptq_v2"
const char* gptq_format_name(GptqFormat f);
GptqFormat parse_gptq_format(const std::string& name);  // "gptq" | "gptq_v2"

// LSB-first bit-stream packing of `count` values (each < 2^bits) into count·bits/32 words;
// count·bits must be a multiple of 32. Both functions read/write with strides so rows and
// columns of a matrix can be packed in place.
void pack_bits(const uint32_t* values, int64_t count, int bits, uint32_t* words, int64_t word_stride);
void unpack_bits(const uint32_t* words, int64_t word_stride, int64_t count, int bits, uint32_t* values);

struct GptqLinear {
    int bits = 4;
    int64_t in_features = 0, out_features = 0, groups = 0;
    std::vector<int32_t> qweight;  // [in·bits/32][out]
    std::vector<int32_t> qzeros;   // [groups][out·bits/32]
    std::vector<uint16_t> scales;  // binary16 bits, [groups][out]
    std::vector<int32_t> g_idx;    // [in]
};

// Packs a quantization result (rows = out_features, cols = in_features). Scales round to
// fp16. Throws SURGEON_ERR_INVALID_ARGUMENT/SHAPE for bits outside {2,3,4,8}, sizes that are
// not multiples of 32, codes > maxq, non-integer zeros, or a zero of 0 in v1.
GptqLinear pack_gptq(const QuantResult& q, GptqFormat format);

// Inverse of pack_gptq: codes, zeros (stored + 1 in v1), fp16 scales widened, g_idx; perm
// is the columns stably sorted by group (the original processing order is not stored).
QuantResult unpack_gptq(const GptqLinear& p, GptqFormat format);

// The dense [out][in] weight a GPTQ loader reconstructs.
Matrix dequantize_gptq(const GptqLinear& p, GptqFormat format);

// Checks the dtypes and shapes of `<prefix>.{qweight,qzeros,scales,g_idx}` for a linear of
// the given size without reading them; returns the group count. Throws SURGEON_ERR_IO for
// missing tensors or wrong shapes/dtypes.
int64_t check_gptq_linear(const TensorStore& store, const std::string& prefix, int bits,
                          int64_t in_features, int64_t out_features);
// check_gptq_linear, then reads the tensors; g_idx out of range is SURGEON_ERR_IO too.
GptqLinear read_gptq_linear(const TensorStore& store, const std::string& prefix, int bits,
                            int64_t in_features, int64_t out_features);
void add_gptq_linear(SafetensorsWriter& writer, const std::string& prefix, const GptqLinear& p);

// New result whose row i is row order[i] of q (used for the HF q/k row permutation).
QuantResult permute_quant_rows(const QuantResult& q, const std::vector<int64_t>& order);

struct GptqExportOptions {
    GptqFormat format = GptqFormat::v1;
    Dtype dense_dtype = Dtype::F16;   // embeddings, norms, lm_head, unquantized linears
    std::optional<int64_t> group_size;  // inferred from the results when unset (-1: per row)
    std::optional<bool> sym;          // inferred: every zero == 2^(bits-1)
    std::optional<bool> desc_act;     // inferred: some g_idx[j] != j / group_size
    bool static_groups = false;
    bool true_sequential = true;
    double damp_percent = 0.01;
};

struct GptqExportSummary {
    int bits = 0;
    int64_t group_size = -1;
    bool sym = true, desc_act = false;
    int64_t quantized_layers = 0, dense_layers = 0;
};

// Writes an HF directory: config.json (with "quantization_config"), quantize_config.json and
// model.safetensors. `quantized` maps "layers.<block>.<wq|wk|wv|wo|w1|w2|w3>" (the pipeline's
// names) to results sharing one bits/group_size; linears without a result are written dense.
GptqExportSummary write_gptq_model(const Model& model,
                                   const std::map<std::string, QuantResult>& quantized,
                                   const std::string& dir, const GptqExportOptions& options = {});

// quantization settings of a GPTQ directory (config.json "quantization_config" or
// quantize_config.json); false when the checkpoint is not GPTQ-quantized.
struct GptqCheckpointInfo {
    int bits = 4;
    int64_t group_size = -1;
    GptqFormat format = GptqFormat::v1;
};
bool read_gptq_info(const std::string& dir, const nlohmann::json& config, GptqCheckpointInfo* info);

}  // namespace surgeon::model
