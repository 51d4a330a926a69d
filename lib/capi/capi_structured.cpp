// C API of calibration-free structured pruning: spectra, FFN neuron selection and slicing,
// PruneNet policies. Results are computed into temporaries and copied out last, so a
// failing call writes nothing.
#include <algorithm>
#include <cstring>
#include <memory>

#include "capi/buffer.hpp"
#include "capi/guard.hpp"
#include "capi/handles.hpp"
#include "capi/prunenet_handle.hpp"
#include "io/checkpoint.hpp"
#include "structured/ffn_slice.hpp"
#include "structured/spectral.hpp"

using namespace surgeon;
using namespace surgeon::capi;

namespace {

Matrix copy_matrix(const float* data, int64_t rows, int64_t cols, int64_t ld, const char* name) {
    require_not_null(data, name);
    require_shape(rows >= 1 && cols >= 1, std::string(name) + ": " + std::to_string(rows) + " x " +
                                              std::to_string(cols) + " is empty or negative");
    if (ld == 0) ld = cols;
    require_arg(ld >= cols, std::string(name) + ": leading dimension smaller than cols");
    Matrix m(rows, cols);
    for (int64_t r = 0; r < rows; ++r) std::copy(data + r * ld, data + r * ld + cols, m.row(r));
    return m;
}

model::LayerWeights ffn_of(const float* gate, const float* up, const float* down, int64_t hidden, int64_t dim,
                           bool need_down) {
    model::LayerWeights l;
    l.w1 = copy_matrix(gate, hidden, dim, 0, "gate");
    l.w3 = copy_matrix(up, hidden, dim, 0, "up");
    if (need_down || down) l.w2 = copy_matrix(down, dim, hidden, 0, "down");
    return l;
}

std::vector<int64_t> select(const std::vector<float>& scores, double ratio) {
    return structured::top_k_indices(scores, structured::kept_neurons(static_cast<int64_t>(scores.size()), ratio));
}

}  // namespace

extern "C" {

surgeon_status surgeon_singular_values(const float* a, int64_t rows, int64_t cols, int64_t ld, float* out) {
    SURGEON_GUARD({
        require_not_null(out, "out");
        const auto s = structured::singular_values(backend_for(*default_context()), copy_matrix(a, rows, cols, ld, "a"));
        std::copy(s.begin(), s.end(), out);
    });
}

surgeon_status surgeon_ks_distance(const float* a, int64_t na, const float* b, int64_t nb, double* out) {
    SURGEON_GUARD({
        require_not_null(a, "a");
        require_not_null(b, "b");
        require_not_null(out, "out");
        require_arg(na >= 1 && nb >= 1, "KS distance needs na >= 1 and nb >= 1");
        *out = structured::ks_distance(std::vector<float>(a, a + na), std::vector<float>(b, b + nb));
    });
}

surgeon_status surgeon_spectral_distance(const float* original, int64_t rows, int64_t cols, const float* pruned,
                                         int64_t pruned_rows, int64_t pruned_cols, double* out) {
    SURGEON_GUARD({
        require_not_null(out, "out");
        *out = structured::spectral_distance(backend_for(*default_context()), copy_matrix(original, rows, cols, 0, "original"),
                                             copy_matrix(pruned, pruned_rows, pruned_cols, 0, "pruned"));
    });
}

surgeon_status surgeon_ffn_scores(surgeon_ffn_method method, const float* gate, const float* up,
                                  const float* down, int64_t hidden, int64_t dim, uint64_t seed, float* scores) {
    SURGEON_GUARD({
        require_not_null(scores, "scores");
        std::vector<float> s;
        const int method_value = enum_value(method);
        if (method_value == SURGEON_FFN_L2) {
            s = structured::l2_scores(ffn_of(gate, up, down, hidden, dim, false));
        } else if (method_value == SURGEON_FFN_RANDOM) {
            require_shape(hidden >= 1, "hidden must be >= 1");
            s = structured::random_scores(hidden, seed);
        } else if (method_value == SURGEON_FFN_PRUNENET) {
            fail(SURGEON_ERR_INVALID_ARGUMENT, "SURGEON_FFN_PRUNENET needs a policy: use surgeon_prunenet_scores");
        } else {
            fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown method " + std::to_string(method_value));
        }
        std::copy(s.begin(), s.end(), scores);
    });
}

surgeon_status surgeon_ffn_select(const float* scores, int64_t hidden, double ratio, int64_t* keep, size_t cap,
                                  size_t* needed) {
    SURGEON_GUARD({
        require_not_null(scores, "scores");
        require_shape(hidden >= 1, "hidden must be >= 1");
        write_array(select(std::vector<float>(scores, scores + hidden), ratio), keep, cap, needed);
    });
}

surgeon_status surgeon_ffn_slice(float* gate, float* up, float* down, int64_t hidden, int64_t dim,
                                 const int64_t* keep, int64_t keep_count) {
    SURGEON_GUARD({
        require_not_null(keep, "keep");
        require_arg(keep_count >= 1 && keep_count <= hidden, "keep_count must be in [1, hidden]");
        model::LayerWeights l = ffn_of(gate, up, down, hidden, dim, true);
        structured::slice_ffn(l, std::vector<int64_t>(keep, keep + keep_count));
        std::copy(l.w1.data.begin(), l.w1.data.end(), gate);
        std::copy(l.w3.data.begin(), l.w3.data.end(), up);
        std::copy(l.w2.data.begin(), l.w2.data.end(), down);
    });
}

surgeon_status surgeon_prunenet_options_init(surgeon_prunenet_options* options, unsigned int version) {
    SURGEON_GUARD({
        init_struct(options, version, SURGEON_PRUNENET_OPTIONS_VERSION, "options");
        const structured::TrainOptions t;
        *options = {version, t.steps, t.ratio, t.samples, t.features, t.learning_rate, t.seed};
    });
}

surgeon_status surgeon_prunenet_new(surgeon_prunenet** out, int64_t dim, int features, uint64_t seed) {
    SURGEON_GUARD({
        require_out(out);
        auto p = std::make_unique<surgeon_prunenet>();
        p->policy = structured::Policy(dim, features, seed);
        *out = p.release();
    });
}

void surgeon_prunenet_free(surgeon_prunenet* policy) { release(policy); }

surgeon_status surgeon_prunenet_train_model(surgeon_prunenet** out, const surgeon_context* ctx,
                                            const char* model_path, const surgeon_prunenet_options* options) {
    SURGEON_GUARD({
        require_out(out);
        require_not_null(model_path, "model_path");
        const auto t = train_options(options);
        const ContextPtr c = context_of(ctx);
        const model::Model m = model::load_model(model_path);
        auto p = std::make_unique<surgeon_prunenet>();
        p->policy = structured::train_policy(m, t, *c);
        *out = p.release();
    });
}

surgeon_status surgeon_prunenet_train_ffn(surgeon_prunenet** out, const surgeon_context* ctx, int64_t dim,
                                          int64_t blocks, const float* const* ffn, const int64_t* hidden,
                                          const surgeon_prunenet_options* options) {
    SURGEON_GUARD({
        require_out(out);
        require_not_null(ffn, "ffn");
        require_not_null(hidden, "hidden");
        require_arg(blocks >= 1, "blocks must be >= 1");
        const auto t = train_options(options);
        model::Model m;
        m.config.dim = dim;
        for (int64_t b = 0; b < blocks; ++b)
            m.layers.push_back(ffn_of(ffn[3 * b], ffn[3 * b + 1], ffn[3 * b + 2], hidden[b], dim, true));
        const ContextPtr c = context_of(ctx);
        auto p = std::make_unique<surgeon_prunenet>();
        p->policy = structured::train_policy(m, t, *c);
        *out = p.release();
    });
}

surgeon_status surgeon_prunenet_save(const surgeon_context* ctx, const surgeon_prunenet* policy, const char* path) {
    SURGEON_GUARD({
        const auto& p = deref(policy, "policy");
        require_not_null(path, "path");
        p.policy.save(path);
        context_of(ctx)->log(SURGEON_LOG_INFO, std::string("saved PruneNet policy '") + path + "' for hidden size " +
                                                   std::to_string(p.policy.dim()));
    });
}

surgeon_status surgeon_prunenet_load(surgeon_prunenet** out, const surgeon_context* ctx, const char* path) {
    SURGEON_GUARD({
        require_out(out);
        require_not_null(path, "path");
        auto p = std::make_unique<surgeon_prunenet>();
        p->policy = structured::Policy::load(path);
        context_of(ctx)->log(SURGEON_LOG_INFO, std::string("loaded PruneNet policy '") + path + "' for hidden size " +
                                                   std::to_string(p->policy.dim()));
        *out = p.release();
    });
}

surgeon_status surgeon_prunenet_dim(const surgeon_prunenet* policy, int64_t* dim) {
    SURGEON_GUARD({
        const auto& p = deref(policy, "policy");
        require_not_null(dim, "dim");
        *dim = p.policy.dim();
    });
}

surgeon_status surgeon_prunenet_scores(const surgeon_prunenet* policy, const float* gate, const float* up,
                                       const float* down, int64_t hidden, int64_t dim, float* scores) {
    SURGEON_GUARD({
        const auto& p = deref(policy, "policy");
        require_not_null(scores, "scores");
        const auto s = p.policy.scores(ffn_of(gate, up, down, hidden, dim, true));
        std::copy(s.begin(), s.end(), scores);
    });
}

}  // extern "C"
