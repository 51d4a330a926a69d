#include <algorithm>

#include "capi/guard.hpp"
#include "capi/handles.hpp"

using namespace surgeon;
using namespace surgeon::capi;

extern "C" {

surgeon_status surgeon_mask_new(surgeon_mask** out, int64_t rows, int64_t cols) {
    SURGEON_GUARD({
        require_out(out);
        require_shape(rows >= 0 && cols >= 0, "negative mask shape " + std::to_string(rows) +
                                                  " x " + std::to_string(cols));
        auto m = std::make_unique<surgeon_mask>();
        m->m = Mask(rows, cols);
        *out = m.release();
    });
}

void surgeon_mask_free(surgeon_mask* m) { release(m); }

surgeon_status surgeon_mask_from_bytes(surgeon_mask** out, const uint8_t* keep, int64_t rows,
                                       int64_t cols) {
    SURGEON_GUARD({
        require_out(out);
        require_shape(rows >= 0 && cols >= 0, "negative mask shape " + std::to_string(rows) +
                                                  " x " + std::to_string(cols));
        require_not_null(keep, "keep");
        auto m = std::make_unique<surgeon_mask>();
        m->m = Mask(rows, cols);
        for (size_t i = 0; i < m->m.keep.size(); ++i) m->m.keep[i] = keep[i] ? 1 : 0;
        *out = m.release();
    });
}

surgeon_status surgeon_mask_shape(const surgeon_mask* m, int64_t* rows, int64_t* cols) {
    SURGEON_GUARD({
        const Mask& mk = deref(m, "m").m;
        if (rows) *rows = mk.rows;
        if (cols) *cols = mk.cols;
    });
}

surgeon_status surgeon_mask_sparsity(const surgeon_mask* m, double* out) {
    SURGEON_GUARD({
        const Mask& mk = deref(m, "m").m;
        require_not_null(out, "out");
        *out = mk.sparsity();
    });
}

surgeon_status surgeon_mask_check_nm(const surgeon_mask* m, int n, int m_group, int* ok) {
    SURGEON_GUARD({
        const Mask& mk = deref(m, "m").m;
        require_not_null(ok, "ok");
        validate_nm(n, m_group);
        *ok = mk.check_nm(n, m_group) ? 1 : 0;
    });
}

surgeon_status surgeon_mask_to_bytes(const surgeon_mask* m, uint8_t* out) {
    SURGEON_GUARD({
        const Mask& mk = deref(m, "m").m;
        require_not_null(out, "out");
        std::copy(mk.keep.begin(), mk.keep.end(), out);
    });
}

surgeon_status surgeon_mask_to_bits(const surgeon_mask* m, uint8_t* out) {
    SURGEON_GUARD({
        const Mask& mk = deref(m, "m").m;
        require_not_null(out, "out");
        const auto bits = mk.to_bits();
        std::copy(bits.begin(), bits.end(), out);
    });
}

surgeon_status surgeon_mask_apply(const surgeon_mask* m, float* w, int64_t rows, int64_t cols,
                                  int64_t ld) {
    SURGEON_GUARD({
        const Mask& mk = deref(m, "m").m;
        require_not_null(w, "w");
        require_shape(rows == mk.rows && cols == mk.cols,
                      "weight is " + std::to_string(rows) + " x " + std::to_string(cols) +
                          ", mask " + std::to_string(mk.rows) + " x " + std::to_string(mk.cols));
        mk.apply({w, rows, cols, resolve_ld(rows, cols, ld, "w")});
    });
}

}  // extern "C"
