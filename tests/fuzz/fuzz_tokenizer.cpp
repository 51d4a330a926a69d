// A llama2.c tokenizer file: loaded (any vocabulary size, then the 512 of tok512.bin), and
// a loaded vocabulary encodes and decodes a fixed text.
#include "support.hpp"
#include "io/tokenizer.hpp"

using namespace surgeon;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::write_input("tokenizer.bin", data, size);
    fuzz::expect_library_errors([&] {
        const model::Tokenizer tok = model::Tokenizer::load(path);
        const std::vector<int> ids = tok.encode("Once upon a time, \xc3\xa9t\xc3\xa9 \xf0\x9f\x99\x82 <0x41>", true, true);
        (void)tok.decode(ids);
    });
    fuzz::expect_library_errors([&] { (void)model::Tokenizer::load(path, 512); });
    return 0;
}
