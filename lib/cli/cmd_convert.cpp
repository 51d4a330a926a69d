// `surgeon convert`: llama2.c .bin <-> Hugging Face directory (config.json +
// model.safetensors), optionally changing the stored float type.
#include <cstdio>
#include <stdexcept>

#include "cli/args.hpp"
#include "cli/command.hpp"
#include "core/output_file.hpp"
#include "io/convert.hpp"
#include "io/model_writer.hpp"

namespace surgeon::cli {
namespace {

constexpr const char* kConvertUsage = R"(usage: surgeon convert --model IN --out OUT [--format hf|llama2c] [--dtype f32|f16|bf16]
                       [--overwrite]

  --model IN     llama2.c .bin file, or Hugging Face Llama directory (config.json +
                 model.safetensors or sharded model.safetensors.index.json; GPTQ-packed
                 checkpoints are dequantized)
  --out OUT      output file (llama2c) or directory (hf)
  --format F     output format; default: the other one than the input's
  --dtype D      stored float type of HF output; default: the input's (f32 from llama2.c).
                 llama2.c output is always f32
  --overwrite    replace an existing OUT (else refused). OUT is written under OUT.partial
                 and renamed when complete
)";

int run_convert(const std::vector<std::string>& argv) {
    if (help_requested(argv, kConvertUsage)) return 0;
    std::string in, out;
    model::ConvertOptions options;
    bool overwrite = false;
    try {
        const Args args(argv, {"--model", "--out", "--format", "--dtype"}, {"--overwrite"});
        in = args.require("--model");
        out = args.require("--out");
        if (args.has("--format")) options.format = model::parse_model_format(args.get("--format"));
        if (args.has("--dtype")) options.dtype = model::parse_float_dtype(args.get("--dtype"));
        overwrite = args.has("--overwrite");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "surgeon convert: error: %s\n%s", e.what(), kConvertUsage);
        return 2;
    }
    // Refused before the model is read; convert_model writes OUT.partial and renames it.
    const model::ModelFormat from = model::detect_model_format(in);
    const model::ModelFormat to =
        options.format.value_or(from == model::ModelFormat::hf ? model::ModelFormat::llama2c : model::ModelFormat::hf);
    check_output_path(out, model::output_kind(to), overwrite);
    const model::ConvertReport r = model::convert_model(in, out, options);
    for (const std::string& w : r.warnings) std::fprintf(stderr, "surgeon convert: warning: %s\n", w.c_str());
    std::printf("%s (%s, %s) -> %s (%s, %s): %lld parameters\n", in.c_str(),
                model::model_format_name(r.from), model::dtype_name(r.source_dtype), out.c_str(),
                model::model_format_name(r.to), model::dtype_name(r.dtype),
                static_cast<long long>(r.parameters));
    return 0;
}

}  // namespace

SURGEON_COMMAND("convert", "convert between llama2.c and Hugging Face checkpoints", run_convert);

}  // namespace surgeon::cli
