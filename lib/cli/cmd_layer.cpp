// `surgeon layer`: compress one linear layer stored as .npy files and report the result as
// one JSON line on stdout (method, options, shape, achieved sparsity, OBS loss, relative
// reconstruction error, seconds).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "cli/args.hpp"
#include "cli/c_api.hpp"
#include "cli/command.hpp"
#include "cli/layer_io.hpp"
#include "cli/layer_options.hpp"
#include "cli/layer_run.hpp"
#include "core/half.hpp"
#include "core/output_file.hpp"

namespace surgeon::cli {
namespace {

void log_warning(void*, surgeon_log_level level, const char* message) {
    if (level >= SURGEON_LOG_WARNING) std::fprintf(stderr, "surgeon layer: warning: %s\n", message);
}

Handle<surgeon_context> make_context(int threads) {
    Handle<surgeon_context> ctx = create(surgeon_context_new);
    check_status(surgeon_context_set_threads(ctx.get(), threads));
    check_status(surgeon_context_set_log(ctx.get(), log_warning, nullptr));
    return ctx;
}

// The values a float16 file will hold, so the report describes the file as written.
void round_to_f16(Matrix& w) {
    for (float& v : w.data) v = f16_to_float(float_to_f16(v));
}

double zero_fraction(const Matrix& w) {
    int64_t zeros = 0;
    for (float v : w.data) zeros += v == 0.0f ? 1 : 0;
    return static_cast<double>(zeros) / static_cast<double>(w.data.size());
}

// tr(ΔW H ΔWᵀ) / tr(W H Wᵀ); null when tr(W H Wᵀ) is zero (W orthogonal to every input).
nlohmann::ordered_json relative_error(const surgeon_hessian* h, const Matrix& w, const Matrix& w_hat) {
    double error = 0.0;
    const surgeon_status status =
        surgeon_reconstruction_error(h, w.data.data(), w_hat.data.data(), w.rows, w.cols, 0, &error);
    // A zero denominator has no error to report; an indefinite H is an error.
    if (status == SURGEON_ERR_NUMERIC && std::string(surgeon_last_error()).find("is zero") != std::string::npos)
        return nullptr;
    check_status(status);
    return error;
}

int run_layer(const std::vector<std::string>& argv) {
    if (help_requested(argv, kLayerUsage)) return 0;
    LayerOptions o;
    try {
        o = parse_layer_options(argv);
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "surgeon layer: error: %s\n", e.what());
        return 2;
    }
    StagedOutputs outputs(o.overwrite);  // existing outputs are refused before any work
    for (const std::string& path : layer_output_paths(o)) outputs.add(path, OutputKind::file);
    const Handle<surgeon_context> ctx = make_context(o.threads);
    const LayerWeight weight = load_weight(o.weight_path);
    const Handle<surgeon_hessian> h = load_hessian(o, ctx.get(), weight.w.cols);

    LayerResult r = compress_layer(o, ctx.get(), weight.w, h.get());
    // Output dtype: float16 when asked or when the weight came as float16, else float32
    // (the computation is float32, so a float64 weight gains nothing from float64 output).
    const NpyDtype dtype =
        o.fp16_out || weight.dtype == NpyDtype::f16 ? NpyDtype::f16 : NpyDtype::f32;
    if (dtype == NpyDtype::f16) round_to_f16(r.w);

    nlohmann::ordered_json report;
    report["method"] = method_name(o.method);
    report["options"] = o.to_json();
    report["rows"] = weight.w.rows;
    report["cols"] = weight.w.cols;
    int64_t samples = 0;
    check_status(surgeon_hessian_samples(h.get(), &samples));
    report["samples"] = samples;
    report["sparsity"] = zero_fraction(r.w);
    report["loss"] = r.loss ? nlohmann::ordered_json(*r.loss) : nlohmann::ordered_json(nullptr);
    report["rel_error"] = relative_error(h.get(), weight.w, r.w);
    report["seconds"] = r.seconds;
    write_layer_outputs(o, r, dtype, outputs);
    outputs.commit();
    std::printf("%s\n", report.dump().c_str());
    return 0;
}

}  // namespace

SURGEON_COMMAND("layer", "prune or quantize one linear layer (.npy in/out, JSON report)", run_layer);

}  // namespace surgeon::cli
