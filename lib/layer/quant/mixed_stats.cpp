#include "layer/quant/mixed_stats.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"
#include "layer/quant/quantizer.hpp"

namespace surgeon {

void OverheadModel::validate() const {
    require_arg(scale_bits >= 0 && scale_bits <= 64,
                "scale_bits must be in [0, 64], got " + std::to_string(scale_bits));
    require_arg(zero_bits >= -1 && zero_bits <= 64,
                "zero_bits must be in [-1, 64], got " + std::to_string(zero_bits));
}

MixedStats mixed_stats(const std::vector<int>& bits, int64_t cols, int64_t group_size,
                       const OverheadModel& overhead, const std::vector<float>* importance) {
    overhead.validate();
    require_arg(!bits.empty(), "the allocation has no rows");
    require_shape(cols >= 1, "cols must be >= 1, got " + std::to_string(cols));
    require_arg(group_size >= 0, "group_size must be >= 0, got " + std::to_string(group_size));
    const int64_t rows = static_cast<int64_t>(bits.size());
    const int64_t groups = group_count(cols, group_size);
    MixedStats s;
    s.channels = rows;
    s.weights = rows * cols;
    s.grids = rows * groups;
    for (int64_t i = 0; i < rows; ++i) {
        const int b = bits[i];
        require_arg(b >= 1 && b <= 8, "row " + std::to_string(i) + " has " + std::to_string(b) +
                                          " bits (must be in [1, 8])");
        ++s.histogram[b];
        s.payload_bits += static_cast<double>(b) * static_cast<double>(cols);
        const int zero = overhead.zero_bits < 0 ? b : overhead.zero_bits;
        s.overhead_bits += static_cast<double>(groups) * (overhead.scale_bits + zero);
    }
    if (importance) {
        require_shape(static_cast<int64_t>(importance->size()) == rows,
                      "importance has " + std::to_string(importance->size()) + " rows, the bits " +
                          std::to_string(rows));
        const auto [lo, hi] = std::minmax_element(importance->begin(), importance->end());
        double sum = 0.0;
        for (float v : *importance) sum += v;
        s.has_importance = true;
        s.importance_min = *lo;
        s.importance_max = *hi;
        s.importance_mean = sum / static_cast<double>(rows);
    }
    return s;
}

void MixedStats::add(const MixedStats& o) {
    if (o.has_importance) {
        const double n = static_cast<double>(channels), m = static_cast<double>(o.channels);
        if (has_importance) {
            importance_min = std::min(importance_min, o.importance_min);
            importance_max = std::max(importance_max, o.importance_max);
            importance_mean = (importance_mean * n + o.importance_mean * m) / (n + m);
        } else {
            importance_min = o.importance_min;
            importance_max = o.importance_max;
            importance_mean = o.importance_mean;
        }
        has_importance = true;
    }
    channels += o.channels;
    weights += o.weights;
    grids += o.grids;
    for (size_t b = 0; b < histogram.size(); ++b) histogram[b] += o.histogram[b];
    payload_bits += o.payload_bits;
    overhead_bits += o.overhead_bits;
}

}  // namespace surgeon
