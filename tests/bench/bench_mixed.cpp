// surgeon-bench-mixed: what mixed precision adds to GPTQ on one LLM-sized layer. Times,
// through the C API, uniform GPTQ (fresh solver, factorization included, as a pipeline
// layer runs it) against the same plus per-row error estimation and the error-driven
// allocation, and plus importance (five signals) and the budget allocation.
//
//   surgeon-bench-mixed [--rows 4096] [--cols 4096] [--tokens 4096] [--threads N]
//                       [--repeat 2] [--group 128] [--avg 4]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "surgeon/surgeon.h"

namespace {

void check(surgeon_status s) {
    if (s != SURGEON_OK) {
        std::fprintf(stderr, "surgeon-bench-mixed: %s\n", surgeon_last_error());
        std::exit(1);
    }
}

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Options {
    int64_t rows = 4096, cols = 4096, tokens = 4096, group = 128;
    int threads = 0, repeat = 2;
    double avg = 4.0;
};

// Correlated activations with per-channel scales, weights with per-row scales: the
// spread that makes per-row widths worth choosing.
surgeon_hessian* make_hessian(const Options& o, surgeon_context* ctx) {
    surgeon_hessian* h = nullptr;
    check(surgeon_hessian_new(&h, ctx, o.cols));
    std::mt19937 rng(1);
    std::normal_distribution<float> g;
    const int64_t rank = 8, chunk = 1024;
    std::vector<float> basis(static_cast<size_t>(rank * o.cols)), scale(static_cast<size_t>(o.cols));
    for (float& v : basis) v = g(rng);
    for (float& v : scale) v = std::exp(0.5f * g(rng));
    std::vector<float> x(static_cast<size_t>(chunk * o.cols));
    for (int64_t t0 = 0; t0 < o.tokens; t0 += chunk) {
        const int64_t n = std::min(chunk, o.tokens - t0);
        for (int64_t t = 0; t < n; ++t) {
            float z[8];
            for (float& v : z) v = g(rng);
            for (int64_t c = 0; c < o.cols; ++c) {
                float v = 0.5f * g(rng);
                for (int64_t k = 0; k < rank; ++k) v += 0.3f * z[k] * basis[k * o.cols + c];
                x[t * o.cols + c] = scale[c] * v;
            }
        }
        check(surgeon_hessian_add_f32(h, x.data(), n, o.cols, 0));
    }
    return h;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        const double v = std::atof(argv[i + 1]);
        if (k == "--rows") o.rows = static_cast<int64_t>(v);
        else if (k == "--cols") o.cols = static_cast<int64_t>(v);
        else if (k == "--tokens") o.tokens = static_cast<int64_t>(v);
        else if (k == "--threads") o.threads = static_cast<int>(v);
        else if (k == "--repeat") o.repeat = static_cast<int>(v);
        else if (k == "--group") o.group = static_cast<int64_t>(v);
        else if (k == "--avg") o.avg = v;
        else {
            std::fprintf(stderr, "usage: surgeon-bench-mixed [--rows R] [--cols C] [--tokens T] "
                                 "[--threads N] [--repeat K] [--group G] [--avg B]\n");
            return 2;
        }
    }
    surgeon_context* ctx = nullptr;
    check(surgeon_context_new(&ctx));
    check(surgeon_context_set_threads(ctx, o.threads));
    int threads = 0;
    check(surgeon_context_get_threads(ctx, &threads));
    surgeon_hessian* h = make_hessian(o, ctx);
    std::vector<float> w0(static_cast<size_t>(o.rows * o.cols)), w;
    {
        std::mt19937 rng(2);
        std::normal_distribution<float> g;
        for (int64_t r = 0; r < o.rows; ++r) {
            const float rs = 0.02f * std::exp(0.4f * g(rng));
            for (int64_t c = 0; c < o.cols; ++c) w0[r * o.cols + c] = rs * g(rng);
        }
    }
    surgeon_quantizer* q = nullptr;
    check(surgeon_quantizer_new(&q, static_cast<int>(o.avg)));
    check(surgeon_quantizer_set_group_size(q, o.group));
    const int32_t options[] = {2, 3, 4, 6, 8};
    surgeon_mixed_options* opts = nullptr;
    check(surgeon_mixed_options_new(&opts));
    check(surgeon_mixed_options_set_bits(opts, options, 5));
    check(surgeon_mixed_options_set_average(opts, o.avg));
    std::vector<int32_t> bits(static_cast<size_t>(o.rows));
    std::vector<double> errors(static_cast<size_t>(o.rows) * 5);

    // Best of `repeat` for: uniform; error-driven (estimate + allocate + quantize);
    // heuristic (importance + budget + quantize). The extra steps are timed on their own.
    double t_uni = 1e30, t_err = 1e30, t_heu = 1e30, t_est = 1e30, t_alloc = 1e30, t_imp = 1e30;
    double e_uni = 0, e_err = 0, e_heu = 0;
    for (int rep = 0; rep < o.repeat; ++rep) {
        for (int mode = 0; mode < 3; ++mode) {
            w = w0;
            surgeon_solver* s = nullptr;
            const double t0 = now();
            check(surgeon_solver_new(&s, ctx, h, nullptr));
            double t1 = t0, t2 = t0;
            if (mode == 0) {
                check(surgeon_quantizer_set_row_bits(q, nullptr, 0));  // uniform width
                check(surgeon_solver_quantize(s, w.data(), o.rows, o.cols, 0, q, nullptr, nullptr));
            } else if (mode == 1) {
                check(surgeon_solver_factorize(s));
                t1 = now();
                check(surgeon_mixed_row_errors(s, w.data(), o.rows, o.cols, 0, q, opts, errors.data()));
                t2 = now();
                check(surgeon_allocate_error(errors.data(), o.rows, opts, bits.data()));
                t_alloc = std::min(t_alloc, now() - t2);
                t_est = std::min(t_est, t2 - t1);
                check(surgeon_quantizer_set_row_bits(q, bits.data(), o.rows));
                check(surgeon_solver_quantize(s, w.data(), o.rows, o.cols, 0, q, nullptr, nullptr));
            } else {
                check(surgeon_solver_factorize(s));
                t1 = now();
                surgeon_importance* imp = nullptr;
                check(surgeon_importance_compute(&imp, h, s, w.data(), o.rows, o.cols, 0, nullptr));
                check(surgeon_allocate_budget(imp, opts, bits.data()));
                t_imp = std::min(t_imp, now() - t1);
                surgeon_importance_free(imp);
                check(surgeon_quantizer_set_row_bits(q, bits.data(), o.rows));
                check(surgeon_solver_quantize(s, w.data(), o.rows, o.cols, 0, q, nullptr, nullptr));
            }
            const double t = now() - t0;
            double err = 0;
            check(surgeon_reconstruction_error(h, w0.data(), w.data(), o.rows, o.cols, 0, &err));
            surgeon_solver_free(s);
            if (mode == 0) t_uni = std::min(t_uni, t), e_uni = err;
            if (mode == 1) t_err = std::min(t_err, t), e_err = err;
            if (mode == 2) t_heu = std::min(t_heu, t), e_heu = err;
        }
    }
    std::printf("surgeon %s  layer %lld x %lld  tokens %lld  group %lld  avg %.2f bits  threads %d  best of %d\n\n",
                surgeon_version(), static_cast<long long>(o.rows), static_cast<long long>(o.cols),
                static_cast<long long>(o.tokens), static_cast<long long>(o.group), o.avg, threads, o.repeat);
    std::printf("%-34s %9s %9s %11s\n", "case", "seconds", "overhead", "rel. error");
    std::printf("%-34s %9.3f %9s %11.5f\n", "gptq uniform", t_uni, "-", e_uni);
    std::printf("%-34s %9.3f %8.1f%% %11.5f\n", "gptq + error-driven allocation", t_err,
                100.0 * (t_err / t_uni - 1.0), e_err);
    std::printf("%-34s %9.3f %8.1f%% %11.5f\n", "gptq + importance + budget", t_heu,
                100.0 * (t_heu / t_uni - 1.0), e_heu);
    // The quantize step is the same work with or without per-row widths, so on a busy
    // machine the added steps against the uniform time are the steadier figure.
    std::printf("\nadded work: row errors %.3f s + error allocation %.3f s = %.1f%% of uniform;"
                " importance + budget %.3f s = %.1f%%\n",
                t_est, t_alloc, 100.0 * (t_est + t_alloc) / t_uni, t_imp, 100.0 * t_imp / t_uni);
    surgeon_mixed_options_free(opts);
    surgeon_quantizer_free(q);
    surgeon_hessian_free(h);
    surgeon_context_free(ctx);
    return 0;
}
