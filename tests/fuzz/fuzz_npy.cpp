// A NumPy .npy file.
#include "core/npy.hpp"
#include "support.hpp"

using namespace surgeon;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::write_input("input.npy", data, size);
    fuzz::expect_library_errors([&] { (void)read_npy(path); });
    return 0;
}
