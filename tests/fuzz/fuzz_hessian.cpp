// A Hessian accumulator file. The input is the file without its trailing checksum: the
// target appends the FNV-1a-64 of the input, so the mutations reach the checks behind the
// checksum instead of stopping at it. The loaded Hessian is read back whole.
#include <vector>

#include "core/context.hpp"
#include "support.hpp"
#include "layer/hessian/hessian.hpp"

using namespace surgeon;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<uint8_t> file(data, data + size);
    uint64_t h = 1469598103934665603ull;  // FNV-1a-64, as hessian_file.hpp states
    for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211ull;
    for (int i = 0; i < 8; ++i) file.push_back(static_cast<uint8_t>(h >> (8 * i)));
    const std::string path = fuzz::write_input("hessian.bin", file.data(), file.size());
    fuzz::expect_library_errors([&] {
        const auto hessian = Hessian::load(default_context(), path);
        (void)hessian->matrix();
        std::vector<float> a(static_cast<size_t>(hessian->cols())), m(a.size()), s(a.size());
        hessian->stats(a.data(), m.data(), s.data());
    });
    return 0;
}
