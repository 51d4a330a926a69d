// The surgeon_model handle: a Model with its tokenizer and what the last compression left
// behind (report, quantization results for the packed export).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "io/quant_export.hpp"
#include "nn/model.hpp"
#include "io/tokenizer.hpp"
#include "layer/quant/quantizer.hpp"

struct surgeon_model {
    surgeon::model::Model model;
    std::shared_ptr<const surgeon::model::TextTokenizer> tokenizer;  // llama2.c or tokenizer.json; immutable
    std::string tokenizer_path;
    std::string report = "{}";
    std::map<std::string, surgeon::QuantResult> quantized;  // by "layers.<block>.<name>"
    std::vector<surgeon::model::LinearExportPlan> plans;      // how each layer was compressed
};
