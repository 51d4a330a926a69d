#include "io/load.hpp"

#include <filesystem>

#include "core/error.hpp"
#include "io/hf_model.hpp"
#include "io/llama2c.hpp"

namespace surgeon::model {

namespace fs = std::filesystem;

Model load_model(const std::string& path) {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (ec || !fs::exists(status)) fail(SURGEON_ERR_IO, "model '" + path + "' does not exist");
    if (fs::is_directory(status)) {
        if (!is_hf_dir(path))
            fail(SURGEON_ERR_IO, "model directory '" + path + "' has no config.json");
        return load_hf(path);
    }
    return read_llama2c(path);
}

std::string find_tokenizer_beside(const std::string& model_path, int64_t vocab_size) {
    std::error_code ec;
    const fs::path model(model_path);
    const fs::path folder = fs::is_directory(model, ec) ? model : model.parent_path();
    for (const std::string& name : {"tok" + std::to_string(vocab_size) + ".bin", std::string("tokenizer.bin")}) {
        const fs::path candidate = folder / name;
        if (fs::is_regular_file(candidate, ec)) return candidate.string();
    }
    return "";
}

void copy_tokenizer_into(const std::string& tokenizer_path, const std::string& dir) {
    if (tokenizer_path.empty()) return;
    const fs::path target = fs::path(dir) / fs::path(tokenizer_path).filename();
    std::error_code ec;
    if (fs::equivalent(tokenizer_path, target, ec)) return;
    fs::copy_file(tokenizer_path, target, fs::copy_options::overwrite_existing, ec);
    if (ec) fail(SURGEON_ERR_IO, "cannot copy the tokenizer to '" + target.string() + "': " + ec.message());
}

}  // namespace surgeon::model
