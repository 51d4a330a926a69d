// Quantizer configuration and quantized results.
#include <algorithm>

#include "capi/buffer.hpp"
#include "capi/guard.hpp"
#include "capi/handles.hpp"

using namespace surgeon;
using namespace surgeon::capi;

namespace {

void check_bits(int bits) {
    require_arg(bits >= 2 && bits <= 8, "bits must be in [2, 8], got " + std::to_string(bits));
}

template <typename T>
void copy_vec(const std::vector<T>& v, T* out) {
    require_not_null(out, "out");
    std::copy(v.begin(), v.end(), out);
}

}  // namespace

extern "C" {

surgeon_status surgeon_quantizer_new(surgeon_quantizer** out, int bits) {
    SURGEON_GUARD({
        require_out(out);
        check_bits(bits);
        auto q = std::make_unique<surgeon_quantizer>();
        q->cfg.bits = bits;
        *out = q.release();
    });
}

void surgeon_quantizer_free(surgeon_quantizer* q) { release(q); }

surgeon_status surgeon_quantizer_set_bits(surgeon_quantizer* q, int bits) {
    SURGEON_GUARD({
        auto& c = deref(q, "q").cfg;
        check_bits(bits);
        c.bits = bits;
    });
}

surgeon_status surgeon_quantizer_set_symmetric(surgeon_quantizer* q, int symmetric) {
    SURGEON_GUARD({ deref(q, "q").cfg.symmetric = symmetric != 0; });
}

surgeon_status surgeon_quantizer_set_group_size(surgeon_quantizer* q, int64_t group_size) {
    SURGEON_GUARD({
        auto& c = deref(q, "q").cfg;
        require_arg(group_size >= 0, "group_size must be >= 0, got " + std::to_string(group_size));
        c.group_size = group_size;
    });
}

surgeon_status surgeon_quantizer_set_mse(surgeon_quantizer* q, int enable, float norm, int grid,
                                         float max_shrink) {
    SURGEON_GUARD({
        auto& c = deref(q, "q").cfg;
        QuantConfig next = c;
        next.mse = enable != 0;
        next.norm = norm;
        next.grid = grid;
        next.max_shrink = max_shrink;
        if (next.mse) next.validate();
        c = next;
    });
}

surgeon_status surgeon_quantizer_set_act_order(surgeon_quantizer* q, int enable) {
    SURGEON_GUARD({ deref(q, "q").cfg.act_order = enable != 0; });
}

surgeon_status surgeon_quantizer_set_static_groups(surgeon_quantizer* q, int enable) {
    SURGEON_GUARD({ deref(q, "q").cfg.static_groups = enable != 0; });
}

surgeon_status surgeon_quantizer_set_row_bits(surgeon_quantizer* q, const int32_t* bits, int64_t rows) {
    SURGEON_GUARD({
        auto& quantizer = deref(q, "q");
        require_arg(rows >= 0, "rows must be >= 0, got " + std::to_string(rows));
        std::vector<int> widths;
        if (bits && rows > 0) widths.assign(bits, bits + rows);
        for (size_t r = 0; r < widths.size(); ++r)
            require_arg(widths[r] >= 1 && widths[r] <= 8,
                        "bits[" + std::to_string(r) + "] must be in [1, 8], got " + std::to_string(widths[r]));
        quantizer.row_bits = std::move(widths);
    });
}

surgeon_status surgeon_quantizer_get_row_bits(const surgeon_quantizer* q, int32_t* buf, size_t cap,
                                              size_t* needed) {
    SURGEON_GUARD({ write_array(deref(q, "q").row_bits, buf, cap, needed); });
}

surgeon_status surgeon_quantizer_get_bits(const surgeon_quantizer* q, int* out) {
    SURGEON_GUARD({ get_into(q, "q", out, [](const surgeon_quantizer& h) { return h.cfg.bits; }); });
}

surgeon_status surgeon_quantizer_get_group_size(const surgeon_quantizer* q, int64_t* out) {
    SURGEON_GUARD({ get_into(q, "q", out, [](const surgeon_quantizer& h) { return h.cfg.group_size; }); });
}

SURGEON_DEFAULT_HANDLE(surgeon_qresult)


surgeon_status surgeon_qresult_shape(const surgeon_qresult* r, int64_t* rows, int64_t* cols,
                                     int64_t* groups, int* bits) {
    SURGEON_GUARD({
        const QuantResult& q = deref(r, "r").r;
        if (rows) *rows = q.rows;
        if (cols) *cols = q.cols;
        if (groups) *groups = q.groups;
        if (bits) *bits = q.bits;
    });
}

surgeon_status surgeon_qresult_codes(const surgeon_qresult* r, uint8_t* out) {
    SURGEON_GUARD({ copy_vec(deref(r, "r").r.codes, out); });
}

surgeon_status surgeon_qresult_scales(const surgeon_qresult* r, float* out) {
    SURGEON_GUARD({ copy_vec(deref(r, "r").r.scales, out); });
}

surgeon_status surgeon_qresult_zeros(const surgeon_qresult* r, float* out) {
    SURGEON_GUARD({ copy_vec(deref(r, "r").r.zeros, out); });
}

surgeon_status surgeon_qresult_g_idx(const surgeon_qresult* r, int32_t* out) {
    SURGEON_GUARD({ copy_vec(deref(r, "r").r.g_idx, out); });
}

surgeon_status surgeon_qresult_perm(const surgeon_qresult* r, int32_t* out) {
    SURGEON_GUARD({ copy_vec(deref(r, "r").r.perm, out); });
}

surgeon_status surgeon_qresult_dequantize(const surgeon_qresult* r, float* out, int64_t ld) {
    SURGEON_GUARD({
        const QuantResult& q = deref(r, "r").r;
        require_not_null(out, "out");
        q.dequantize(out, resolve_ld(q.rows, q.cols, ld, "out"));
    });
}

}  // extern "C"
