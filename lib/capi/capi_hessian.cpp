#include "capi/guard.hpp"
#include "capi/handles.hpp"

using namespace surgeon;
using namespace surgeon::capi;

namespace {

// Adds rows x cols calibration rows of one element type: add(accumulator, x, rows, ld).
template <typename T, typename Add>
void add_rows(surgeon_hessian* h, const T* x, int64_t rows, int64_t cols, int64_t ld, Add add) {
    Hessian& acc = *deref(h, "h").impl;
    require_shape(cols == acc.cols(), "x has " + std::to_string(cols) +
                                          " columns, the accumulator " + std::to_string(acc.cols()));
    add(acc, x, rows, resolve_ld(rows, cols, ld, "x"));
}

}  // namespace

extern "C" {

surgeon_status surgeon_hessian_new(surgeon_hessian** out, const surgeon_context* ctx,
                                   int64_t cols) {
    SURGEON_GUARD({
        require_out(out);
        auto h = std::make_unique<surgeon_hessian>();
        h->impl = std::make_unique<Hessian>(context_of(ctx), cols);
        *out = h.release();
    });
}

void surgeon_hessian_free(surgeon_hessian* h) { release(h); }

surgeon_status surgeon_hessian_add_f32(surgeon_hessian* h, const float* x, int64_t rows,
                                       int64_t cols, int64_t ld) {
    SURGEON_GUARD({
        add_rows(h, x, rows, cols, ld, [](Hessian& acc, auto* data, int64_t n, int64_t l) { acc.add(data, n, l); });
    });
}

surgeon_status surgeon_hessian_add_f16(surgeon_hessian* h, const uint16_t* x, int64_t rows,
                                       int64_t cols, int64_t ld) {
    SURGEON_GUARD({
        add_rows(h, x, rows, cols, ld, [](Hessian& acc, auto* data, int64_t n, int64_t l) { acc.add_f16(data, n, l); });
    });
}

surgeon_status surgeon_hessian_add_bf16(surgeon_hessian* h, const uint16_t* x, int64_t rows,
                                        int64_t cols, int64_t ld) {
    SURGEON_GUARD({
        add_rows(h, x, rows, cols, ld, [](Hessian& acc, auto* data, int64_t n, int64_t l) { acc.add_bf16(data, n, l); });
    });
}

surgeon_status surgeon_hessian_merge(surgeon_hessian* dst, const surgeon_hessian* src) {
    SURGEON_GUARD({
        Hessian& d = *deref(dst, "dst").impl;
        const Hessian& s = *deref(src, "src").impl;
        d.merge(s);
    });
}

surgeon_status surgeon_hessian_from_matrix(surgeon_hessian** out, const surgeon_context* ctx,
                                           const float* hessian, int64_t cols, int64_t ld,
                                           int64_t samples) {
    SURGEON_GUARD({
        require_out(out);
        const int64_t l = resolve_ld(cols, cols, ld, "hessian");
        auto h = std::make_unique<surgeon_hessian>();
        h->impl = std::make_unique<Hessian>(context_of(ctx), cols);
        h->impl->assign_matrix(hessian, l, samples);
        *out = h.release();
    });
}

surgeon_status surgeon_hessian_cols(const surgeon_hessian* h, int64_t* out) {
    SURGEON_GUARD({
        const Hessian& acc = *deref(h, "h").impl;
        require_not_null(out, "out");
        *out = acc.cols();
    });
}

surgeon_status surgeon_hessian_samples(const surgeon_hessian* h, int64_t* out) {
    SURGEON_GUARD({
        const Hessian& acc = *deref(h, "h").impl;
        require_not_null(out, "out");
        *out = acc.samples();
    });
}

surgeon_status surgeon_hessian_copy(const surgeon_hessian* h, float* out, int64_t ld) {
    SURGEON_GUARD({
        const Hessian& acc = *deref(h, "h").impl;
        require_not_null(out, "out");
        const int64_t l = resolve_ld(acc.cols(), acc.cols(), ld, "out");
        copy_out(acc.matrix(), out, l);
    });
}

surgeon_status surgeon_hessian_stats(const surgeon_hessian* h, float* abs_mean, float* mean,
                                     float* sq_mean) {
    SURGEON_GUARD({ deref(h, "h").impl->stats(abs_mean, mean, sq_mean); });
}

surgeon_status surgeon_hessian_save(const surgeon_hessian* h, const char* path) {
    SURGEON_GUARD({
        const Hessian& acc = *deref(h, "h").impl;
        require_not_null(path, "path");
        acc.save(path);
    });
}

surgeon_status surgeon_hessian_load(surgeon_hessian** out, const surgeon_context* ctx,
                                    const char* path) {
    SURGEON_GUARD({
        require_out(out);
        require_not_null(path, "path");
        auto h = std::make_unique<surgeon_hessian>();
        h->impl = Hessian::load(context_of(ctx), path);
        *out = h.release();
    });
}

}  // extern "C"
