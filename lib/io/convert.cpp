#include "io/convert.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/gptq_export.hpp"

namespace surgeon::model {

int64_t parameter_count(const Model& m) {
    int64_t n = m.tok_emb.rows * m.tok_emb.cols + static_cast<int64_t>(m.rms_final.size()) +
                m.wcls.rows * m.wcls.cols;
    for (const auto& L : m.layers) {
        n += static_cast<int64_t>(L.rms_att.size() + L.rms_ffn.size());
        for (const Matrix* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w1, &L.w2, &L.w3}) n += w->rows * w->cols;
    }
    return n;
}

ConvertReport convert_model(const std::string& in, const std::string& out, const ConvertOptions& options) {
    ConvertReport r;
    r.from = detect_model_format(in);
    r.to = options.format.value_or(r.from == ModelFormat::hf ? ModelFormat::llama2c : ModelFormat::hf);
    Model model = load_model(in, &r.source_dtype);
    if (r.from == ModelFormat::hf) {
        std::ifstream f(std::filesystem::path(in) / "config.json");
        GptqCheckpointInfo gptq;
        if (read_gptq_info(in, nlohmann::json::parse(f, nullptr, false), &gptq))
            r.warnings.push_back("GPTQ " + std::to_string(gptq.bits) +
                                 "-bit layers were dequantized (the output is not packed)");
    }
    r.parameters = parameter_count(model);

    r.dtype = options.dtype.value_or(r.to == ModelFormat::hf && (r.source_dtype == Dtype::F16 ||
                                                                 r.source_dtype == Dtype::BF16)
                                         ? r.source_dtype
                                         : Dtype::F32);
    save_model(model, out, {r.to, r.dtype, ""});
    return r;
}

GgufSummary convert_to_gguf(const std::string& in, const std::string& out, GgufType type,
                            const std::string& tokenizer_path, ConvertReport* report) {
    ConvertReport r;
    r.from = detect_model_format(in);
    const Model model = load_model(in, &r.source_dtype);
    r.parameters = parameter_count(model);
    const std::string tok = tokenizer_path.empty() ? find_tokenizer_beside(in, model.config.vocab_size) : tokenizer_path;
    require(!tok.empty(), SURGEON_ERR_IO,
            "a GGUF carries the tokenizer; no llama2.c tokenizer was found beside '" + in + "' (pass --tokenizer FILE)");
    GgufOptions o;
    if (gguf_is_quantized(type)) {
        o.rtn = type;
        o.float_type = GgufType::F16;
        o.embedding_type = GgufType::Q8_0;
    } else {
        o.float_type = type;
    }
    o.name = std::filesystem::path(in).stem().string();
    if (report) *report = r;
    return write_gguf(model, Tokenizer::load(tok, model.config.vocab_size), {}, out, o);
}

}  // namespace surgeon::model
