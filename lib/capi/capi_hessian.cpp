#include <algorithm>

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

surgeon_status surgeon_hessian_export_raw(const surgeon_hessian* h, float* sum_xx, double* column_sums,
                                          int64_t* samples) {
    SURGEON_GUARD({
        const Hessian& acc = *deref(h, "h").impl;
        require_not_null(sum_xx, "sum_xx");
        require_not_null(column_sums, "column_sums");
        require_not_null(samples, "samples");
        const HessianState s = acc.state();
        std::copy(s.upper.begin(), s.upper.end(), sum_xx);
        const size_t c = static_cast<size_t>(s.cols);
        std::copy(s.stats.sum_abs.begin(), s.stats.sum_abs.end(), column_sums);
        std::copy(s.stats.sum.begin(), s.stats.sum.end(), column_sums + c);
        std::copy(s.stats.sum_sq.begin(), s.stats.sum_sq.end(), column_sums + 2 * c);
        *samples = s.samples;
    });
}

surgeon_status surgeon_hessian_import_raw(surgeon_hessian** out, const surgeon_context* ctx, int64_t cols,
                                          const float* sum_xx, const double* column_sums, int64_t samples) {
    SURGEON_GUARD({
        require_out(out);
        require_not_null(sum_xx, "sum_xx");
        require_not_null(column_sums, "column_sums");
        require_arg(cols >= 1 && cols <= Hessian::kMaxCols,
                    "cols must be in [1, " + std::to_string(Hessian::kMaxCols) + "], got " + std::to_string(cols));
        const auto c = static_cast<size_t>(cols);
        HessianState s;
        s.cols = cols;
        s.samples = samples;
        s.upper.assign(sum_xx, sum_xx + c * (c + 1) / 2);
        s.stats.sum_abs.assign(column_sums, column_sums + c);
        s.stats.sum.assign(column_sums + c, column_sums + 2 * c);
        s.stats.sum_sq.assign(column_sums + 2 * c, column_sums + 3 * c);
        auto h = std::make_unique<surgeon_hessian>();
        h->impl = Hessian::from_state(context_of(ctx), s, "the raw state");
        *out = h.release();
    });
}

}  // extern "C"
