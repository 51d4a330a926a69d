// A recipe JSON file: parsed, then a plan resolved for a few layer names and written back.
#include "compress/recipe.hpp"
#include "support.hpp"

using namespace surgeon;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::write_input("recipe.json", data, size);
    fuzz::expect_library_errors([&] {
        const model::Recipe recipe = model::Recipe::from_file(path);
        for (const char* layer : {"layers.0.wq", "layers.1.w2", "layers.11.w3"})
            (void)recipe.plan_for(layer).to_json().dump();
    });
    return 0;
}
