#include "io/checkpoint.hpp"

#include <filesystem>
#include <vector>

#include "core/error.hpp"
#include "core/names.hpp"
#include "core/output_file.hpp"
#include "io/hf_model.hpp"
#include "io/llama2c.hpp"
#include "io/model_reader.hpp"
#include "io/model_writer.hpp"
#include "io/tokenizer.hpp"

namespace surgeon::model {

namespace fs = std::filesystem;

namespace {

constexpr EnumName<ModelFormat> kFormats[] = {{ModelFormat::hf, "hf"}, {ModelFormat::llama2c, "llama2c"}};

}  // namespace

ModelFormat parse_model_format(const std::string& name) { return parse_enum(kFormats, name, "model format"); }
const char* model_format_name(ModelFormat f) { return enum_name(kFormats, f); }

ModelFormat detect_model_format(const std::string& path) {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (ec || !fs::exists(status)) fail(SURGEON_ERR_IO, "model '" + path + "' does not exist");
    if (!fs::is_directory(status)) return ModelFormat::llama2c;
    if (!is_hf_dir(path)) fail(SURGEON_ERR_IO, "model directory '" + path + "' has no config.json");
    return ModelFormat::hf;
}

ModelFormat output_format(const std::string& path) {
    const std::string suffix = ".bin";
    const bool bin = path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
    return bin ? ModelFormat::llama2c : ModelFormat::hf;
}

Model load_model(const std::string& path, Dtype* source_dtype) {
    return materialize(*open_model(path, source_dtype));
}

void save_model(const Model& model, const std::string& path, const SaveOptions& options) {
    require_arg(!path.empty(), "empty output path");
    WriterOptions writer;
    writer.format = options.format;
    writer.dtype = options.dtype;
    writer.max_shard_bytes = options.max_shard_bytes;
    if (options.format == ModelFormat::hf) writer.tokenizer_path = options.tokenizer_path;
    writer.overwrite = true;
    write_model(model, path, writer);
}

GptqExportSummary save_gptq_model(const Model& model, const std::map<std::string, QuantResult>& quantized,
                                  const std::string& dir, const std::string& tokenizer_path,
                                  const GptqExportOptions& options) {
    StagedOutputs outputs(true);
    const std::string stage = outputs.add(dir, OutputKind::directory);
    const GptqExportSummary summary = write_gptq_model(model, quantized, stage, options);
    copy_tokenizer_into(tokenizer_path, stage);
    outputs.commit();
    return summary;
}

CtExportSummary save_ct_model(const Model& model, const std::map<std::string, QuantResult>& quantized,
                              const std::string& dir, const std::string& tokenizer_path,
                              const CtExportOptions& options) {
    const CtExportSummary summary = write_ct_model(model, quantized, dir, options);
    copy_tokenizer_into(tokenizer_path, dir);
    return summary;
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
    std::vector<fs::path> files{tokenizer_path};
    std::error_code ec;
    // A tokenizer.json travels with its tokenizer_config.json (BOS/EOS settings).
    const fs::path config = fs::path(tokenizer_path).parent_path() / "tokenizer_config.json";
    if (fs::path(tokenizer_path).filename() == "tokenizer.json" && fs::is_regular_file(config, ec))
        files.push_back(config);
    for (const fs::path& file : files) {
        const fs::path target = fs::path(dir) / file.filename();
        if (fs::equivalent(file, target, ec)) continue;
        write_file_atomically(target.string(), read_text_file(file.string()));
    }
}

}  // namespace surgeon::model
