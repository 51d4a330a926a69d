// A token id file (little-endian int32), unchecked and against a 512-token vocabulary.
#include "support.hpp"
#include "io/tokenizer.hpp"

using namespace surgeon;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::write_input("tokens.bin", data, size);
    fuzz::expect_library_errors([&] { (void)model::read_token_file(path); });
    fuzz::expect_library_errors([&] { (void)model::read_token_file(path, 512); });
    return 0;
}
