// A Hugging Face tokenizer.json (with an empty tokenizer_config.json): parsed, and an
// accepted tokenizer encodes a fixed text (with and without its special tokens) and decodes
// the ids back. Every id it gives must lie in its vocabulary.
#include "support.hpp"
#include "io/hf_tokenizer.hpp"

using namespace surgeon;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string json(reinterpret_cast<const char*>(data), size);
    fuzz::expect_library_errors([&] {
        const model::HfTokenizer tok = model::HfTokenizer::parse(json, "", "fuzz");
        for (const bool special : {true, false}) {
            const std::vector<int> ids =
                tok.encode("Once upon a time, \xc3\xa9t\xc3\xa9 \xf0\x9f\x99\x82 12345  <s>\n\tab", special);
            for (int id : ids) fuzz::require_invariant(id >= 0 && id < tok.vocab_size(), "an id outside the vocabulary");
            (void)tok.decode(ids);
        }
    });
    return 0;
}
