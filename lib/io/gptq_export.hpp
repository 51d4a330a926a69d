// Packed GPTQ checkpoints in the "gptq" format of GPTQ-for-LLaMa / AutoGPTQ / GPTQModel /
// transformers+optimum. Each quantized linear `<p>` (nn.Linear, weight [out][in]) becomes
//   <p>.qweight  I32 [in·bits/32, out]   codes packed along the input dimension
//   <p>.qzeros   I32 [groups, out·bits/32] zero points packed along the output dimension
//   <p>.scales   F16 [groups, out]
//   <p>.g_idx    I32 [in]                 group of each input channel
// Packing is the LSB-first bit stream of io/quant_export.hpp. For 2/4/8 bits this is 32/bits
// values per word; for 3 bits it is exactly the classic interleaved layout (32 values in 3
// words, values 10 and 21 straddling word boundaries). The loader computes
//   W[o][j] = scales[g][o] · (q[j][o] − z[g][o]),  g = g_idx[j],
// where z is the stored zero plus 1 in the classic "gptq" (v1) format and the stored zero
// itself in "gptq_v2". v1 therefore cannot represent a zero point of 0 (asymmetric groups
// whose values are all ≥ 0): export refuses it and suggests gptq_v2. in and out must be
// multiples of 32 (the loaders size their buffers with in/32·bits), and the group size
// must divide in (AutoGPTQ's reshape, exllama's assert). Which loader reads which format,
// and how dense linears are declared: docs/formats.md.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/matrix.hpp"
#include "nn/model.hpp"
#include "io/quant_export.hpp"
#include "io/safetensors.hpp"
#include "layer/quant/quantizer.hpp"

namespace surgeon::model {

enum class GptqFormat { v1, v2 };  // checkpoint_format "gptq" (zeros stored minus 1) / "gptq_v2"
const char* gptq_format_name(GptqFormat f);
GptqFormat parse_gptq_format(const std::string& name);  // "gptq" | "gptq_v2"

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

struct GptqExportOptions {
    // Unset: "gptq" (v1) when every layer is symmetric, "gptq_v2" otherwise (GPTQModel
    // loads asymmetric v1 only from its own producer; v1 cannot hold a zero point of 0).
    std::optional<GptqFormat> format;
    Dtype dense_dtype = Dtype::F16;   // embeddings, norms, lm_head, unquantized linears
    std::optional<int64_t> group_size;  // inferred from the results when unset (-1: per row)
    std::optional<bool> sym;          // inferred: every zero == 2^(bits-1)
    std::optional<bool> desc_act;     // inferred: some g_idx[j] != j / group_size
    bool static_groups = false;
    bool true_sequential = true;
    double damp_percent = 0.01;       // must lie in (0, 1): AutoGPTQ and optimum refuse others
};

struct GptqExportSummary {
    int bits = 0;
    int64_t group_size = -1;
    bool sym = true, desc_act = false;
    GptqFormat format = GptqFormat::v1;
    int64_t quantized_layers = 0, dense_layers = 0;
};

// The options a GPTQ export of a run with these plans gets (bits, group size, sym,
// desc_act, static_groups, damp_percent from the plans; format as asked, else the default
// above), checked before any work. Refused with one line naming the layer
// (SURGEON_ERR_INVALID_ARGUMENT): no quantized layer, per-row (mixed) widths, widths
// outside {2,3,4,8} or differing between layers, sizes not multiples of 32, group sizes
// differing between layers or not dividing a layer's input width, and damp / static_groups
// that differ between GPTQ-solved layers or a damp outside (0, 1).
GptqExportOptions plan_gptq_export(const std::vector<LinearExportPlan>& plans, std::optional<GptqFormat> format,
                                   Dtype dense_dtype);

// Writes an HF directory: config.json (with "quantization_config"), quantize_config.json and
// model.safetensors. `quantized` maps "layers.<block>.<wq|wk|wv|wo|w1|w2|w3>" (the pipeline's
// names) to results sharing one bits/group_size; linears without a result are written dense
// and declared in the config (optimum/transformers "modules_in_block_to_quantize", GPTQModel
// "dynamic" rules "-:<module>"), so the loaders keep them as plain nn.Linear.
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
