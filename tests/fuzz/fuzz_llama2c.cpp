// A llama2.c checkpoint (.bin) opened through open_model and read whole.
#include "support.hpp"
#include "io/model_reader.hpp"

using namespace surgeon;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::write_input("model.bin", data, size);
    fuzz::expect_library_errors([&] { (void)model::materialize(*model::open_model(path)); });
    return 0;
}
