// compressed-tensors checkpoints in the "pack-quantized" format: what llm-compressor writes
// and vLLM (and transformers with compressed-tensors) loads. Each quantized linear `<p>`
// (nn.Linear, weight [out][in]) becomes
//   <p>.weight_packed      I32 [out, ceil(in·b/32)]  codes, one row per output channel
//   <p>.weight_scale       model dtype [out, groups]
//   <p>.weight_shape       I32 [2] = {out, in}
//   <p>.weight_zero_point  I32 [ceil(out·b/32), groups]  asymmetric only, packed along dim 0
//   <p>.weight_g_idx       I32 [in]                  group act-order only ("actorder": "group")
// A stored value is the signed quantized value plus 2^(b−1), which is the unsigned code
// q ∈ [0, 2^b) of QuantResult; the zero point likewise (the signed zero point plus
// 2^(b−1)), so the loader's W[o][j] = s[o][g]·(x_q − zp) is s·(q − z), g = g_idx[j] (or
// j / group_size). Values are packed as the LSB-first stream of io/quant_export.hpp: value
// i at bit i·b of the little-endian words, a 3/5/6/7-bit value spanning two words (the
// layout of compressed-tensors since PR #732), each row (or zero-point column) padded to a
// whole word. config.json carries "quantization_config" with quant_method
// "compressed-tensors", format "pack-quantized", quantization_status "compressed",
// config_groups (one scheme per distinct bits/group/sym/actorder; targets "Linear" when
// there is one, else the module names) and ignore (lm_head and the dense linears).
// See docs/formats.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/quant_export.hpp"
#include "io/safetensors.hpp"
#include "layer/quant/quantizer.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

// The quantization scheme of a linear ("weights" of a compressed-tensors config group).
struct CtScheme {
    int bits = 4;
    int64_t group_size = -1;    // -1: strategy "channel" (one group per row)
    bool sym = true;
    std::string actorder;       // "group" (g_idx stored), "weight" (static groups), "" (null)
    std::string observer = "minmax";  // "minmax", or "mse" for the MSE grid search

    bool operator==(const CtScheme& o) const {
        return bits == o.bits && group_size == o.group_size && sym == o.sym && actorder == o.actorder &&
               observer == o.observer;
    }
};

// The scheme read off a result: bits, group size (the members of group 0 when several),
// sym (every zero == 2^(b−1)), actorder "group" when g_idx is not j / group_size.
CtScheme infer_ct_scheme(const QuantResult& q);

struct CtLinear {
    int bits = 4;
    int64_t rows = 0, cols = 0, groups = 0;
    std::vector<int32_t> weight_packed;      // [rows][packed_words(cols, bits)]
    std::vector<float> weight_scale;         // [rows][groups]
    std::vector<int32_t> weight_zero_point;  // [packed_words(rows, bits)][groups]; empty when symmetric
    std::vector<int32_t> weight_g_idx;       // [cols]; empty unless scheme.actorder == "group"
};

// Packs a result under `scheme` (its bits; group count cols / group_size; zeros all
// 2^(b−1) when symmetric; g_idx j / group_size unless actorder "group"). Throws
// SURGEON_ERR_INVALID_ARGUMENT when the result does not fit the scheme.
CtLinear pack_ct(const QuantResult& q, const CtScheme& scheme);
void add_ct_linear(SafetensorsWriter& writer, const std::string& prefix, const CtLinear& p, Dtype scale_dtype);

struct CtExportOptions {
    Dtype dtype = Dtype::F16;  // the model dtype: dense tensors and weight_scale
    std::map<std::string, CtScheme> schemes;  // by layer name; a result without one gets infer_ct_scheme
};

// The options a compressed-tensors export of a run with these plans gets, checked before
// any work. Refused with one line naming the layer (SURGEON_ERR_INVALID_ARGUMENT): no
// quantized layer, per-row (mixed) widths, a group size that does not divide a layer's
// input width, and q/k/v or gate/up of a block with different schemes (vLLM fuses each set
// into one layer, which holds one scheme).
CtExportOptions plan_ct_export(const std::vector<LinearExportPlan>& plans, Dtype dtype);

struct CtExportSummary {
    int64_t quantized_layers = 0, dense_layers = 0, config_groups = 0;
};

// Writes an HF directory: config.json with the quantization_config, model.safetensors.
// `quantized` maps "layers.<block>.<linear>" to results; linears without one stay dense.
CtExportSummary write_ct_model(const Model& model, const std::map<std::string, QuantResult>& quantized,
                               const std::string& dir, const CtExportOptions& options = {});

}  // namespace surgeon::model
