// `surgeon convert`: llama2.c .bin <-> Hugging Face directory (config.json +
// model.safetensors), optionally changing the stored float type, or either to a GGUF file.
#include <cstdio>
#include <stdexcept>

#include "cli/args.hpp"
#include "cli/command.hpp"
#include "core/output_file.hpp"
#include "io/convert.hpp"
#include "io/model_writer.hpp"

namespace surgeon::cli {
namespace {

constexpr const char* kConvertUsage = R"(usage: surgeon convert --model IN --out OUT [--format hf|llama2c|gguf] [--dtype D]
                       [--tokenizer FILE] [--overwrite]

  --model IN     llama2.c .bin file, or Hugging Face Llama directory (config.json +
                 model.safetensors or sharded model.safetensors.index.json; GPTQ-packed
                 checkpoints are dequantized)
  --out OUT      output file (llama2c, gguf) or directory (hf)
  --format F     output format; default: gguf for an OUT ending in .gguf, else the other
                 one than the input's
  --dtype D      stored float type of HF output (f32|f16|bf16); default: the input's (f32
                 from llama2.c). llama2.c output is always f32. GGUF: f32 (default), f16,
                 bf16, or q8_0 / q4_0 (round-to-nearest as llama-quantize; a layer whose
                 width is not a multiple of 32 in f16, token_embd/output in q8_0)
  --tokenizer F  llama2.c tokenizer for GGUF output (default: tok<vocab>.bin or
                 tokenizer.bin beside the model)
  --overwrite    replace an existing OUT (else refused). OUT is written under OUT.partial
                 and renamed when complete
)";

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int run_convert(const std::vector<std::string>& argv) {
    if (help_requested(argv, kConvertUsage)) return 0;
    std::string in, out, tokenizer;
    model::ConvertOptions options;
    bool overwrite = false, gguf = false;
    model::GgufType gguf_type = model::GgufType::F32;
    try {
        const Args args(argv, {"--model", "--out", "--format", "--dtype", "--tokenizer"}, {"--overwrite"});
        overwrite = args.has("--overwrite");
        in = args.require("--model");
        out = args.require("--out");
        tokenizer = args.get("--tokenizer");
        gguf = args.has("--format") ? args.get("--format") == "gguf" : ends_with(out, ".gguf");
        if (gguf) {
            if (args.has("--dtype")) gguf_type = model::parse_gguf_type(args.get("--dtype"));
        } else {
            if (args.has("--format")) options.format = model::parse_model_format(args.get("--format"));
            if (args.has("--dtype")) options.dtype = model::parse_float_dtype(args.get("--dtype"));
            if (!tokenizer.empty()) throw std::invalid_argument("--tokenizer is for GGUF output");
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "surgeon convert: error: %s\n%s", e.what(), kConvertUsage);
        return 2;
    }
    if (gguf) {
        check_output_path(out, OutputKind::file, overwrite);  // before the model is read
        model::ConvertReport r;
        const model::GgufSummary g = model::convert_to_gguf(in, out, gguf_type, tokenizer, &r);
        std::string types;
        for (const auto& [type, count] : g.tensors) types += (types.empty() ? "" : ", ") + std::to_string(count) + " " + type;
        std::printf("%s (%s, %s) -> %s (gguf, %s: %s): %lld parameters\n", in.c_str(),
                    model::model_format_name(r.from), model::dtype_name(r.source_dtype), out.c_str(),
                    g.file_type.c_str(), types.c_str(), static_cast<long long>(r.parameters));
        for (const std::string& f : g.fallbacks) std::fprintf(stderr, "surgeon convert: note: %s\n", f.c_str());
        if (!g.ffn_padded.empty())
            std::fprintf(stderr, "surgeon convert: note: %zu blocks' FFN padded with zero neurons to the widest "
                                 "(llama.cpp holds one FFN size)\n", g.ffn_padded.size());
        return 0;
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

SURGEON_COMMAND("convert", "convert between llama2.c and Hugging Face checkpoints, or to GGUF", run_convert);

}  // namespace surgeon::cli
