// NumPy .npy files (format 1.0–3.0): little-endian float32 / float16 / float64 arrays in C
// order. Everything is read as float32 (the stored element type is reported); writing is
// float32, float16 or float64.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace surgeon {

enum class NpyDtype { f32, f16, f64 };

const char* npy_dtype_name(NpyDtype dtype);  // "float32", "float16", "float64"

struct NpyArray {
    std::vector<int64_t> shape;
    std::vector<float> data;
    NpyDtype dtype = NpyDtype::f32;  // element type stored in the file

    int64_t size() const;
    int64_t dim(size_t i) const { return i < shape.size() ? shape[i] : 1; }
};

// Throws SURGEON_ERR_IO on any malformed, truncated or unsupported file. The data is read
// straight into the result (no second copy of the file in memory).
NpyArray read_npy(const std::string& path);

void write_npy(const std::string& path, const std::vector<int64_t>& shape, const float* data,
               NpyDtype dtype = NpyDtype::f32);
// Raw little-endian integer arrays (codes, indices).
void write_npy_u8(const std::string& path, const std::vector<int64_t>& shape, const uint8_t* data);
void write_npy_i32(const std::string& path, const std::vector<int64_t>& shape, const int32_t* data);

}  // namespace surgeon
