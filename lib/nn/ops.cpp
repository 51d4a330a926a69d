#include "nn/ops.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"

namespace surgeon::model::ops {

void apply_linear(Backend& be, const float* x, int64_t T, int64_t ldx, const Matrix& w, float* y,
                  int64_t ldy, float beta) {
    if (T == 0) return;
    be.gemm(Trans::no, Trans::yes, T, w.rows, w.cols, 1.0f, x, ldx, w.data.data(), w.cols, beta, y,
            ldy);
}

Matrix apply_linear(Backend& be, const Matrix& x, const Matrix& w) {
    Matrix y(x.rows, w.rows);
    apply_linear(be, x.data.data(), x.rows, x.cols, w, y.data.data(), y.cols);
    return y;
}

void add_bias(Matrix& y, const std::vector<float>& bias) {
    if (bias.empty()) return;
    for (int64_t t = 0; t < y.rows; ++t) {
        float* row = y.row(t);
        for (int64_t j = 0; j < y.cols; ++j) row[j] += bias[static_cast<size_t>(j)];
    }
}

void linear_input_grad(Backend& be, const Matrix& dy, const Matrix& w, Matrix& dx, float beta) {
    if (dy.rows == 0) return;
    be.gemm(dy.rows, w.cols, w.rows, 1.0f, dy.data.data(), dy.cols, w.data.data(), w.cols, beta,
            dx.data.data(), dx.cols);
}

namespace {
double inverse_rms(const float* x, int64_t n, float eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
    return 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
}
}  // namespace

void fake_quant_tokens(Matrix& m, int bits) {
    if (bits == 0) return;
    require_arg(bits >= 2 && bits <= 16, "activation bits must be in [2, 16], got " + std::to_string(bits));
    const auto qmax = static_cast<float>((1 << bits) - 1);
    if (m.cols == 0) return;
    for (int64_t t = 0; t < m.rows; ++t) {
        float* x = m.row(t);
        const auto [lo, hi] = std::minmax_element(x, x + m.cols);
        if (!(*hi > *lo) || !std::isfinite(*hi - *lo)) continue;
        const float scale = (*hi - *lo) / qmax;
        const float zero = std::nearbyint(-*lo / scale);  // round half to even, as torch.round
        for (int64_t j = 0; j < m.cols; ++j)
            x[j] = scale * (std::clamp(std::nearbyint(x[j] / scale) + zero, 0.0f, qmax) - zero);
    }
}

Matrix rmsnorm(const Matrix& x, const std::vector<float>& weight, float eps) {
    Matrix out(x.rows, x.cols);
    for (int64_t t = 0; t < x.rows; ++t) {
        const float* in = x.row(t);
        const auto inv = static_cast<float>(inverse_rms(in, x.cols, eps));
        float* o = out.row(t);
        for (int64_t i = 0; i < x.cols; ++i) o[i] = in[i] * inv * weight[static_cast<size_t>(i)];
    }
    return out;
}

void head_rmsnorm(Matrix& m, const std::vector<float>& weight, float eps) {
    const auto hs = static_cast<int64_t>(weight.size());
    for (int64_t t = 0; t < m.rows; ++t)
        for (int64_t h0 = 0; h0 < m.cols; h0 += hs) {
            float* x = m.row(t) + h0;
            const auto inv = static_cast<float>(inverse_rms(x, hs, eps));
            for (int64_t i = 0; i < hs; ++i) x[i] = x[i] * inv * weight[static_cast<size_t>(i)];
        }
}

// y_i = x_i·r·w_i with r = (mean x² + eps)^-½, so dx_j = r·w_j·dy_j − (r³/n)·x_j·Σ_i dy_i·w_i·x_i.
void rmsnorm_backward(const Matrix& x, const std::vector<float>& weight, float eps, const Matrix& dy,
                      Matrix& dx) {
    const int64_t n = x.cols;
    for (int64_t t = 0; t < x.rows; ++t) {
        const float* in = x.row(t);
        const float* g = dy.row(t);
        const double r = inverse_rms(in, n, eps);
        double dot = 0.0;
        for (int64_t i = 0; i < n; ++i) dot += static_cast<double>(g[i]) * weight[static_cast<size_t>(i)] * in[i];
        const double c = r * r * r / static_cast<double>(n) * dot;
        float* out = dx.row(t);
        for (int64_t i = 0; i < n; ++i)
            out[i] += static_cast<float>(r * weight[static_cast<size_t>(i)] * g[i] - c * in[i]);
    }
}

namespace {
std::vector<double> plain_frequencies(int64_t head_size, double theta) {
    std::vector<double> f(static_cast<size_t>(head_size / 2));
    for (size_t j = 0; j < f.size(); ++j)
        f[j] = std::pow(theta, -2.0 * static_cast<double>(j) / static_cast<double>(head_size));
    return f;
}
}  // namespace

std::vector<double> rope_frequencies(const ModelConfig& c, int64_t context) {
    const int64_t hs = c.head_size();
    const RopeScaling& s = c.rope_scaling;
    switch (s.kind) {
        case RopeScalingKind::none: break;
        case RopeScalingKind::linear: {
            std::vector<double> f = plain_frequencies(hs, c.rope_theta);
            for (double& v : f) v /= s.factor;
            return f;
        }
        case RopeScalingKind::dynamic: {
            // transformers' dynamic NTK: past the original context the base grows with it.
            const int64_t original = s.original_max_positions > 0 ? s.original_max_positions : c.seq_len;
            if (context <= original) break;
            const double d = static_cast<double>(hs);
            const double base = static_cast<double>(c.rope_theta) *
                                std::pow(s.factor * static_cast<double>(context) / static_cast<double>(original) -
                                             (s.factor - 1.0),
                                         d / (d - 2.0));
            return plain_frequencies(hs, base);
        }
        case RopeScalingKind::llama3: {
            std::vector<double> f = plain_frequencies(hs, c.rope_theta);
            const double original = static_cast<double>(s.original_max_positions);
            const double low_wavelen = original / s.low_freq_factor, high_wavelen = original / s.high_freq_factor;
            constexpr double kTwoPi = 6.283185307179586;
            for (double& v : f) {
                const double wavelen = kTwoPi / v;
                if (wavelen > low_wavelen) {
                    v /= s.factor;
                } else if (wavelen >= high_wavelen) {  // between: a smooth ramp
                    const double smooth =
                        (original / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
                    v = (1.0 - smooth) * v / s.factor + smooth * v;
                }
            }
            return f;
        }
    }
    return plain_frequencies(hs, c.rope_theta);
}

RopeTable::RopeTable(int64_t pos0, int64_t T, const ModelConfig& config) : half(config.head_size() / 2) {
    const std::vector<double> freqs = rope_frequencies(config, pos0 + T);
    cos.resize(static_cast<size_t>(T * half));
    sin.resize(cos.size());
    for (int64_t j = 0; j < half; ++j)
        for (int64_t t = 0; t < T; ++t) {
            const double angle = static_cast<double>(pos0 + t) * freqs[static_cast<size_t>(j)];
            cos[static_cast<size_t>(t * half + j)] = static_cast<float>(std::cos(angle));
            sin[static_cast<size_t>(t * half + j)] = static_cast<float>(std::sin(angle));
        }
}

RopeTable::RopeTable(int64_t pos0, int64_t T, int64_t head_size, float theta) : half(head_size / 2) {
    cos.resize(static_cast<size_t>(T * half));
    sin.resize(cos.size());
    const std::vector<double> freqs = plain_frequencies(head_size, theta);
    for (int64_t j = 0; j < half; ++j) {
        const double freq = freqs[static_cast<size_t>(j)];
        for (int64_t t = 0; t < T; ++t) {
            const double angle = static_cast<double>(pos0 + t) * freq;
            cos[static_cast<size_t>(t * half + j)] = static_cast<float>(std::cos(angle));
            sin[static_cast<size_t>(t * half + j)] = static_cast<float>(std::sin(angle));
        }
    }
}

void RopeTable::apply(Matrix& m, bool inverse) const {
    const int64_t head_size = 2 * half;
    const float sign = inverse ? -1.0f : 1.0f;
    for (int64_t t = 0; t < m.rows; ++t) {
        const float* c = cos.data() + t * half;
        const float* s = sin.data() + t * half;
        float* row = m.row(t);
        for (int64_t h0 = 0; h0 < m.cols; h0 += head_size)
            for (int64_t j = 0; j < half; ++j) {
                float* v = row + h0 + 2 * j;
                const float v0 = v[0], v1 = v[1], sj = sign * s[j];
                v[0] = v0 * c[j] - v1 * sj;
                v[1] = v0 * sj + v1 * c[j];
            }
    }
}

void causal_softmax(float* scores, int64_t rows, int64_t cols, int64_t ld, int64_t pos0, int64_t window) {
    for (int64_t t = 0; t < rows; ++t) {
        float* s = scores + t * ld;
        const int64_t visible = pos0 + t + 1;
        const int64_t first = window > 0 && visible > window ? visible - window : 0;
        const float peak = *std::max_element(s + first, s + visible);
        double sum = 0.0;
        for (int64_t j = first; j < visible; ++j) {
            s[j] = std::exp(s[j] - peak);
            sum += s[j];
        }
        const auto inv = static_cast<float>(1.0 / sum);
        for (int64_t j = first; j < visible; ++j) s[j] *= inv;
        std::fill(s, s + first, 0.0f);
        std::fill(s + visible, s + cols, 0.0f);
    }
}

void causal_softmax(Matrix& scores, int64_t pos0, int64_t window) {
    causal_softmax(scores.data.data(), scores.rows, scores.cols, scores.cols, pos0, window);
}

}  // namespace surgeon::model::ops
