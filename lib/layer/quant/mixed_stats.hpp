// Where the bits went: histogram of per-row widths and average bits per weight, with and
// without the storage of the grids (scale and zero point per row and group).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace surgeon {

// Storage of one grid: a scale of scale_bits and a zero point of zero_bits (< 0: the row's
// own width, as GPTQ packs zeros; 0: implicit, e.g. a symmetric grid whose zero is fixed).
struct OverheadModel {
    int scale_bits = 16;
    int zero_bits = -1;
    void validate() const;
};

struct MixedStats {
    int64_t channels = 0;                  // rows
    int64_t weights = 0;                   // rows · cols
    int64_t grids = 0;                     // rows · groups
    std::array<int64_t, 9> histogram{};    // rows per width 1..8 (index = bits; [0] unused)
    double payload_bits = 0.0;             // Σ_i b_i · cols
    double overhead_bits = 0.0;            // scales and zeros
    bool has_importance = false;
    double importance_min = 0.0, importance_max = 0.0, importance_mean = 0.0;

    double avg_bits() const { return weights ? payload_bits / static_cast<double>(weights) : 0.0; }
    double avg_bits_with_overhead() const {
        return weights ? (payload_bits + overhead_bits) / static_cast<double>(weights) : 0.0;
    }
    // Adds another layer's figures (model totals; importance ranges are merged).
    void add(const MixedStats& other);
};

// bits: one width (1..8) per row; group_size 0 = one grid per row; importance nullable
// (rows entries).
MixedStats mixed_stats(const std::vector<int>& bits, int64_t cols, int64_t group_size,
                       const OverheadModel& overhead, const std::vector<float>* importance);

}  // namespace surgeon
