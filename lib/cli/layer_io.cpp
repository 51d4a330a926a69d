#include "cli/layer_io.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.hpp"

namespace surgeon::cli {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + ")";
}

// A Hessian file is xᵀx-shaped: a non-negative diagonal and symmetric up to float
// rounding (|H_ij| <= sqrt(H_ii H_jj) sets the scale). Catches a wrong file early.
void check_hessian_matrix(const NpyArray& h, const std::string& path) {
    const int64_t n = h.dim(0);
    const float* d = h.data.data();
    for (int64_t i = 0; i < n; ++i)
        require_shape(d[i * n + i] >= 0.0f, path + ": negative diagonal entry at " +
                                                std::to_string(i) + ": not a Hessian");
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = i + 1; j < n; ++j) {
            const double a = d[i * n + j], b = d[j * n + i];
            const double scale = std::sqrt(static_cast<double>(d[i * n + i]) * d[j * n + j]);
            require_shape(std::fabs(a - b) <= 1e-3 * scale,
                          path + ": not symmetric at (" + std::to_string(i) + ", " +
                              std::to_string(j) + "): not a Hessian");
        }
}

}  // namespace

LayerWeight load_weight(const std::string& path) {
    NpyArray a = read_npy(path);
    require_shape(a.shape.size() == 2 && a.shape[0] >= 1 && a.shape[1] >= 1,
                  path + ": the weight must be 2-D (rows x cols), got shape " + shape_text(a.shape));
    return {Matrix(a.shape[0], a.shape[1], a.data), a.dtype};
}

Handle<surgeon_hessian> load_hessian(const LayerOptions& o, const surgeon_context* ctx, int64_t cols) {
    if (!o.inputs_path.empty()) {
        const std::string& path = o.inputs_path;
        NpyArray x = read_npy(path);
        require_shape(x.shape.size() == 2 && x.shape[0] >= 1,
                      path + ": the inputs must be 2-D (samples x cols), got shape " +
                          shape_text(x.shape));
        require_shape(x.shape[1] == cols, path + ": the inputs have " + std::to_string(x.shape[1]) +
                                              " columns, the weight " + std::to_string(cols));
        Handle<surgeon_hessian> h = create(surgeon_hessian_new, ctx, cols);
        check_status(surgeon_hessian_add_f32(h.get(), x.data.data(), x.shape[0], cols, 0));
        return h;
    }
    const std::string& path = o.hessian_path;
    NpyArray m = read_npy(path);
    require_shape(m.shape.size() == 2 && m.shape[0] == cols && m.shape[1] == cols,
                  path + ": the Hessian must be cols x cols = " + std::to_string(cols) + " x " +
                      std::to_string(cols) + " for this weight, got shape " + shape_text(m.shape));
    check_hessian_matrix(m, path);
    return create(surgeon_hessian_from_matrix, ctx, m.data.data(), cols, 0, o.samples);
}

namespace {
const char* const kCodeSuffixes[] = {".codes.npy", ".scales.npy", ".zeros.npy", ".g_idx.npy", ".perm.npy"};
}

std::vector<std::string> layer_output_paths(const LayerOptions& o) {
    std::vector<std::string> paths{o.out_path};
    if (!o.mask_path.empty()) paths.push_back(o.mask_path);
    if (!o.codes_prefix.empty())
        for (const char* suffix : kCodeSuffixes) paths.push_back(o.codes_prefix + suffix);
    return paths;
}

void write_layer_outputs(const LayerOptions& o, const LayerResult& r, NpyDtype dtype, const StagedOutputs& outputs) {
    const int64_t rows = r.w.rows, cols = r.w.cols;
    write_npy(outputs.stage_of(o.out_path), {rows, cols}, r.w.data.data(), dtype);
    if (!o.mask_path.empty()) {
        std::vector<uint8_t> keep(static_cast<size_t>(rows * cols));
        check_status(surgeon_mask_to_bytes(r.mask.get(), keep.data()));
        write_npy_u8(outputs.stage_of(o.mask_path), {rows, cols}, keep.data());
    }
    if (!o.codes_prefix.empty()) {
        const surgeon_qresult* q = r.codes.get();
        int64_t groups = 0;
        check_status(surgeon_qresult_shape(q, nullptr, nullptr, &groups, nullptr));
        std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
        std::vector<float> scales(static_cast<size_t>(rows * groups)), zeros(scales.size());
        std::vector<int32_t> g_idx(static_cast<size_t>(cols)), perm(g_idx.size());
        check_status(surgeon_qresult_codes(q, codes.data()));
        check_status(surgeon_qresult_scales(q, scales.data()));
        check_status(surgeon_qresult_zeros(q, zeros.data()));
        check_status(surgeon_qresult_g_idx(q, g_idx.data()));
        check_status(surgeon_qresult_perm(q, perm.data()));
        auto at = [&](int i) { return outputs.stage_of(o.codes_prefix + kCodeSuffixes[i]); };
        write_npy_u8(at(0), {rows, cols}, codes.data());
        write_npy(at(1), {rows, groups}, scales.data());
        write_npy(at(2), {rows, groups}, zeros.data());
        write_npy_i32(at(3), {cols}, g_idx.data());
        write_npy_i32(at(4), {cols}, perm.data());
    }
}

}  // namespace surgeon::cli
