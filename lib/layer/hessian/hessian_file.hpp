// On-disk Hessian accumulator: little-endian, versioned, FNV-1a-64 checksum at the end.
//   "SRGNHESS" | u32 version (1) | u32 reserved (0) | i64 cols | i64 samples
//   | f32 upper triangle of Σxᵀx, row by row (cols·(cols+1)/2)
//   | f64 Σ|x| [cols] | f64 Σx [cols] | f64 Σx² [cols] | u64 checksum of all bytes before it
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layer/hessian/hessian.hpp"

namespace surgeon {

using HessianFileData = HessianState;

void write_hessian_file(const std::string& path, const HessianFileData& data);
// Throws SURGEON_ERR_IO for a malformed file, SURGEON_ERR_NUMERIC for NaN/Inf, a negative
// diagonal or a negative Σ|x| / Σx² in a well-formed one.
HessianFileData read_hessian_file(const std::string& path);

// The value checks of a read file, for any raw state (`what` names it in messages): NaN/Inf
// anywhere, a negative diagonal of Σxᵀx, a negative Σ|x| or Σx², an entry of H or a column
// mean beyond float range are SURGEON_ERR_NUMERIC.
void check_hessian_values(const HessianState& state, const std::string& what);

}  // namespace surgeon
