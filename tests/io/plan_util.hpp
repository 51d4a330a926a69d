// The export plan of one quantized linear (io/quant_export.hpp), for the export tests.
#pragma once

#include <string>

#include "io/quant_export.hpp"

namespace export_test {

inline surgeon::model::LinearExportPlan quantized_plan(const std::string& name, int64_t rows, int64_t cols, int bits,
                                                       int64_t group, bool sym, bool act_order = false,
                                                       bool static_groups = false, double damp = 0.01,
                                                       bool solver = true) {
    surgeon::model::LinearExportPlan p;
    p.name = name;
    p.rows = rows;
    p.cols = cols;
    p.quantized = true;
    p.solver = solver;
    p.bits = bits;
    p.group_size = group;
    p.sym = sym;
    p.act_order = act_order;
    p.static_groups = static_groups;
    p.damp = damp;
    return p;
}

}  // namespace export_test
