#include "structured/spectral.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace surgeon::structured {

std::vector<float> singular_values(Backend& be, const Matrix& a) {
    require_shape(a.rows >= 1 && a.cols >= 1, "singular values of an empty matrix");
    Matrix work = a;  // the SVD destroys its input
    std::vector<float> s(static_cast<size_t>(std::min(a.rows, a.cols)));
    require(be.singular_values(work.data.data(), a.rows, a.cols, a.cols, s.data()), SURGEON_ERR_NUMERIC,
            "the SVD did not converge");
    return s;
}

double ks_distance(std::vector<float> a, std::vector<float> b) {
    require_arg(!a.empty() && !b.empty(), "KS distance needs two non-empty samples");
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
    size_t i = 0, j = 0;
    double best = 0.0;
    // Walk the merged sample; evaluate both CDFs after consuming every copy of a value.
    while (i < a.size() || j < b.size()) {
        float x;
        if (j >= b.size() || (i < a.size() && a[i] <= b[j]))
            x = a[i];
        else
            x = b[j];
        while (i < a.size() && a[i] <= x) ++i;
        while (j < b.size() && b[j] <= x) ++j;
        best = std::max(best, std::abs(static_cast<double>(i) / na - static_cast<double>(j) / nb));
    }
    return best;
}

}  // namespace surgeon::structured
