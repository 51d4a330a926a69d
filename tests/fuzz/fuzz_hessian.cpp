// A Hessian accumulator file. The input is the file without its trailing checksum: the
// target appends the FNV-1a-64 of the input, so the mutations reach the checks behind the
// checksum instead of stopping at it. The loaded Hessian is read back whole.
#include <cmath>
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
        const Matrix h = hessian->matrix();
        const int64_t n = hessian->cols();
        for (int64_t i = 0; i < n; ++i) {
            for (int64_t j = 0; j < n; ++j) fuzz::require_invariant(std::isfinite(h(i, j)), "finite H");
            fuzz::require_invariant(h(i, i) >= 0.0f, "H diagonal >= 0");
        }
        std::vector<float> a(static_cast<size_t>(n)), m(a.size()), s(a.size());
        hessian->stats(a.data(), m.data(), s.data());
        for (size_t i = 0; i < a.size(); ++i)
            fuzz::require_invariant(std::isfinite(a[i]) && std::isfinite(m[i]) && std::isfinite(s[i]) &&
                                        a[i] >= 0.0f && s[i] >= 0.0f,
                                    "finite column statistics, mean |x| and mean x^2 >= 0");
    });
    return 0;
}
