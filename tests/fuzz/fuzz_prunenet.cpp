// A PruneNet policy file (JSON), loaded and saved back.
#include "support.hpp"
#include "structured/prunenet.hpp"

using namespace surgeon;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::write_input("policy.json", data, size);
    fuzz::expect_library_errors([&] {
        const structured::Policy policy = structured::Policy::load(path);
        policy.save(fuzz::work_dir() + "/saved.json");
    });
    return 0;
}
