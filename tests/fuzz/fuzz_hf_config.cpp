// A Hugging Face config.json beside a valid model.safetensors (tiny_config(), written once
// at start-up): the directory is opened through open_model and read whole, so a config
// that passes validation must agree with the tensors.
#include "support.hpp"
#include "io/model_reader.hpp"
#include "io/random_checkpoint.hpp"

using namespace surgeon;

namespace {
std::string model_dir;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    model_dir = fuzz::work_dir() + "/hf";
    model::write_random_checkpoint(model_dir, fuzz::tiny_config(), model::Dtype::F16, 1, 1 << 20, 1);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    (void)fuzz::write_input("hf/config.json", data, size);
    fuzz::expect_library_errors([&] { (void)model::materialize(*model::open_model(model_dir)); });
    return 0;
}
