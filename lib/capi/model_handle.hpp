// The surgeon_model handle: a Model with its tokenizer and what the last compression left
// behind (report, quantization results for the packed export).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "io/quant_export.hpp"
#include "nn/model.hpp"
#include "io/tokenizer.hpp"
#include "layer/quant/quantizer.hpp"

struct surgeon_model {
    surgeon::model::Model model;
    std::optional<surgeon::model::Tokenizer> tokenizer;
    std::string tokenizer_path;
    std::string report = "{}";
    std::map<std::string, surgeon::QuantResult> quantized;  // by "layers.<block>.<name>"
    std::vector<surgeon::model::LinearExportPlan> plans;      // how each layer was compressed
};
