// The export plans of a run (io/quant_export.hpp): how each linear of a model will be
// quantized, read off the recipe before any work (so a packed export that cannot be
// written is refused before the compression starts) or off a finished run's report.
#pragma once

#include <string>
#include <vector>

#include "compress/pipeline.hpp"
#include "compress/recipe.hpp"
#include "io/quant_export.hpp"
#include "nn/model.hpp"

namespace surgeon::model {

// One linear under `plan`: quantized when the method quantizes (gptq, rtn, sparsegpt with
// bits), with the plan's bits, group, symmetry, act-order, static groups, MSE grids, damp.
LinearExportPlan export_plan_of(const std::string& name, int64_t rows, int64_t cols, const LayerPlan& plan);

// Every linear of a model of this config (FFN width per block) under the recipe.
std::vector<LinearExportPlan> export_plans(const ModelConfig& config, const std::vector<int64_t>& ffn_sizes,
                                           const Recipe& recipe);

// Every layer of a finished run, with the plan it ran under.
std::vector<LinearExportPlan> export_plans(const CompressionReport& report);

}  // namespace surgeon::model
