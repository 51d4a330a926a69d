// A .safetensors file: the header is validated when the file opens, then every tensor is
// read in each way its dtype allows (a file that opens must read).
#include "support.hpp"
#include "io/safetensors.hpp"

using namespace surgeon;
using namespace surgeon::model;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::write_input("input.safetensors", data, size);
    fuzz::expect_library_errors([&] {
        const SafetensorsFile file(path);
        for (const TensorInfo& t : file.tensors()) {
            (void)file.read_bytes(t.name);
            if (t.dtype == Dtype::I32) (void)file.read_i32(t.name);
            if (t.dtype == Dtype::F16 || t.dtype == Dtype::BF16) (void)file.read_u16_bits(t.name);
            if (!is_float_dtype(t.dtype)) continue;
            (void)file.read_f32(t.name);
            if (!t.shape.empty()) (void)file.read_f32_rows(t.name, t.shape[0] / 2, t.shape[0]);
        }
    });
    return 0;
}
