#include "io/convert.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/gptq_export.hpp"
#include "io/hf_model.hpp"
#include "io/llama2c.hpp"

namespace surgeon::model {

ModelFormat parse_model_format(const std::string& name) {
    if (name == "hf") return ModelFormat::hf;
    if (name == "llama2c") return ModelFormat::llama2c;
    fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown model format '" + name + "' (hf, llama2c)");
}

const char* model_format_name(ModelFormat f) { return f == ModelFormat::hf ? "hf" : "llama2c"; }

ModelFormat detect_model_format(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        if (!is_hf_dir(path)) fail(SURGEON_ERR_IO, path + ": directory without config.json");
        return ModelFormat::hf;
    }
    if (!std::filesystem::exists(path, ec)) fail(SURGEON_ERR_IO, "cannot open '" + path + "'");
    return ModelFormat::llama2c;
}

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
    Model model;
    if (r.from == ModelFormat::hf) {
        model = load_hf(in, &r.source_dtype);
        std::ifstream f(std::filesystem::path(in) / "config.json");
        GptqCheckpointInfo gptq;
        if (read_gptq_info(in, nlohmann::json::parse(f, nullptr, false), &gptq))
            r.warnings.push_back("GPTQ " + std::to_string(gptq.bits) +
                                 "-bit layers were dequantized (the output is not packed)");
    } else {
        model = read_llama2c(in);
        r.source_dtype = Dtype::F32;
    }
    r.parameters = parameter_count(model);

    if (r.to == ModelFormat::llama2c) {
        r.dtype = options.dtype.value_or(Dtype::F32);
        require_arg(r.dtype == Dtype::F32, "llama2.c files are float32 only (got --dtype " +
                                               std::string(torch_dtype_name(r.dtype)) + ")");
        // write_llama2c refuses what the format cannot hold (per-layer FFN sizes, removed
        // attention heads (n_heads · head_dim != dim), a RoPE theta or norm eps other than
        // run.c's hard-coded 10000 and 1e-5): SURGEON_ERR_UNSUPPORTED.
        write_llama2c(model, out);
    } else {
        r.dtype = options.dtype.value_or(r.source_dtype == Dtype::F16 || r.source_dtype == Dtype::BF16
                                             ? r.source_dtype
                                             : Dtype::F32);
        save_hf(model, out, r.dtype);
    }
    return r;
}

}  // namespace surgeon::model
