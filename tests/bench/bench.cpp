// surgeon-bench: SparseGPT (50%, 2:4) and GPTQ (4-bit, g128) on an LLM-sized layer,
// Hessian accumulation, and OpenBLAS SGEMM for the machine's rate. Each case runs in a
// child process so its peak resident memory can be reported on its own.
//
//   surgeon-bench [--rows 4096] [--cols 4096] [--tokens 8192] [--threads N] [--repeat 3]
#include <cblas.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "surgeon/surgeon.h"

namespace {

struct Options {
    int64_t rows = 4096, cols = 4096, tokens = 8192;
    int threads = 0, repeat = 3;
};

void check(surgeon_status s) {
    if (s != SURGEON_OK) {
        std::fprintf(stderr, "surgeon-bench: %s\n", surgeon_last_error());
        std::exit(1);
    }
}

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Correlated activations: a shared low-rank component plus noise, like real inputs.
std::vector<float> activations(int64_t tokens, int64_t cols, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, 1.0f);
    const int64_t rank = 16;
    std::vector<float> basis(static_cast<size_t>(rank * cols)), x(static_cast<size_t>(tokens * cols));
    for (float& v : basis) v = g(rng);
    for (int64_t t = 0; t < tokens; ++t) {
        float z[16];
        for (float& v : z) v = g(rng);
        for (int64_t c = 0; c < cols; ++c) {
            float v = 0.3f * g(rng);
            for (int64_t k = 0; k < rank; ++k) v += 0.25f * z[k] * basis[k * cols + c];
            x[t * cols + c] = v;
        }
    }
    return x;
}

std::vector<float> weights(int64_t rows, int64_t cols, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, 0.02f);
    std::vector<float> w(static_cast<size_t>(rows * cols));
    for (float& v : w) v = g(rng);
    return w;
}

surgeon_hessian* make_hessian(const Options& o, surgeon_context* ctx) {
    surgeon_hessian* h = nullptr;
    check(surgeon_hessian_new(&h, ctx, o.cols));
    const int64_t chunk = 2048;
    for (int64_t t = 0; t < o.tokens; t += chunk) {
        auto x = activations(std::min(chunk, o.tokens - t), o.cols, static_cast<unsigned>(t + 1));
        check(surgeon_hessian_add_f32(h, x.data(), std::min(chunk, o.tokens - t), o.cols, 0));
    }
    return h;
}

struct Result {
    double seconds = 0.0;  // best of repeats
    double flops = 0.0;
    double extra = 0.0;    // relative reconstruction error where meaningful
};

using Case = std::function<Result(const Options&, surgeon_context*)>;

Result timed(int repeat, const std::function<void()>& setup, const std::function<void()>& body) {
    Result r;
    r.seconds = 1e30;
    for (int i = 0; i < repeat; ++i) {
        setup();
        const double t0 = now();
        body();
        r.seconds = std::min(r.seconds, now() - t0);
    }
    return r;
}

Result bench_sgemm(const Options& o, surgeon_context*) {
    const int64_t n = o.cols;
    auto a = weights(n, n, 1), b = weights(n, n, 2);
    std::vector<float> c(static_cast<size_t>(n * n));
    Result r = timed(o.repeat, [] {}, [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n,
                    b.data(), n, 0.0f, c.data(), n);
    });
    r.flops = 2.0 * n * n * n;
    return r;
}

Result bench_hessian(const Options& o, surgeon_context* ctx) {
    auto x = activations(o.tokens, o.cols, 7);
    surgeon_hessian* h = nullptr;
    Result r = timed(o.repeat, [&] { surgeon_hessian_free(h); check(surgeon_hessian_new(&h, ctx, o.cols)); },
                     [&] { check(surgeon_hessian_add_f32(h, x.data(), o.tokens, o.cols, 0)); });
    surgeon_hessian_free(h);
    r.flops = static_cast<double>(o.tokens) * o.cols * o.cols;  // SYRK: n²k
    return r;
}

// Solver cases include the factorization (a fresh solver each run), as a layer would.
Result bench_solver(const Options& o, surgeon_context* ctx, const std::string& kind) {
    surgeon_hessian* h = make_hessian(o, ctx);
    const auto w0 = weights(o.rows, o.cols, 3);
    std::vector<float> w;
    surgeon_quantizer* q = nullptr;
    check(surgeon_quantizer_new(&q, 4));
    check(surgeon_quantizer_set_group_size(q, 128));
    surgeon_solver* s = nullptr;
    surgeon_prune_options* unstructured = nullptr;  // defaults: 50 %
    surgeon_prune_options* two_four = nullptr;
    check(surgeon_prune_options_new(&unstructured));
    check(surgeon_prune_options_new(&two_four));
    check(surgeon_prune_options_set_nm(two_four, 2, 4));
    Result r = timed(o.repeat,
                     [&] {
                         w = w0;
                         surgeon_solver_free(s);
                         check(surgeon_solver_new(&s, ctx, h, nullptr));
                     },
                     [&] {
                         if (kind == "sparsegpt-50")
                             check(surgeon_solver_prune(s, w.data(), o.rows, o.cols, 0, unstructured,
                                                        nullptr));
                         else if (kind == "sparsegpt-2:4")
                             check(surgeon_solver_prune(s, w.data(), o.rows, o.cols, 0, two_four, nullptr));
                         else
                             check(surgeon_solver_quantize(s, w.data(), o.rows, o.cols, 0, q,
                                                           nullptr, nullptr));
                     });
    check(surgeon_reconstruction_error(h, w0.data(), w.data(), o.rows, o.cols, 0, &r.extra));
    // Factorization (2n³/3) + lazy GEMM updates (≈ rows·cols²) dominate.
    r.flops = 2.0 / 3.0 * o.cols * o.cols * o.cols + static_cast<double>(o.rows) * o.cols * o.cols;
    surgeon_solver_free(s);
    surgeon_prune_options_free(two_four);
    surgeon_prune_options_free(unstructured);
    surgeon_quantizer_free(q);
    surgeon_hessian_free(h);
    return r;
}

// Runs one case in a child process; returns its result and peak RSS (MiB).
bool run_isolated(const Case& c, const Options& o, Result& out, double& peak_mib) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        surgeon_context* ctx = nullptr;
        check(surgeon_context_new(&ctx));
        check(surgeon_context_set_threads(ctx, o.threads));
        Result r = c(o, ctx);
        surgeon_context_free(ctx);
        ssize_t ignored = write(fds[1], &r, sizeof r);
        (void)ignored;
        _exit(0);
    }
    close(fds[1]);
    ssize_t got = read(fds[0], &out, sizeof out);
    close(fds[0]);
    int status = 0;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    peak_mib = static_cast<double>(ru.ru_maxrss) / 1024.0;
    return got == static_cast<ssize_t>(sizeof out) && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        const long long v = std::atoll(argv[i + 1]);
        if (k == "--rows") o.rows = v;
        else if (k == "--cols") o.cols = v;
        else if (k == "--tokens") o.tokens = v;
        else if (k == "--threads") o.threads = static_cast<int>(v);
        else if (k == "--repeat") o.repeat = static_cast<int>(v);
        else {
            std::fprintf(stderr, "usage: surgeon-bench [--rows R] [--cols C] [--tokens T] [--threads N] [--repeat K]\n");
            return 2;
        }
    }
    surgeon_context* probe = nullptr;
    check(surgeon_context_new(&probe));
    check(surgeon_context_set_threads(probe, o.threads));
    int threads = 0;
    check(surgeon_context_get_threads(probe, &threads));
    surgeon_context_free(probe);
    std::printf("surgeon %s  layer %lld x %lld  tokens %lld  threads %d  best of %d\n\n",
                surgeon_version(), static_cast<long long>(o.rows), static_cast<long long>(o.cols),
                static_cast<long long>(o.tokens), threads, o.repeat);
    const std::vector<std::pair<std::string, Case>> cases = {
        {"sgemm (openblas)", bench_sgemm},
        {"hessian (syrk)", bench_hessian},
        {"sparsegpt 50%", [](const Options& op, surgeon_context* c) { return bench_solver(op, c, "sparsegpt-50"); }},
        {"sparsegpt 2:4", [](const Options& op, surgeon_context* c) { return bench_solver(op, c, "sparsegpt-2:4"); }},
        {"gptq 4-bit g128", [](const Options& op, surgeon_context* c) { return bench_solver(op, c, "gptq"); }},
    };
    const double limit_mib = 4.0 * (o.rows * o.cols + o.cols * o.cols) * 4.0 / 1048576.0;
    std::printf("%-18s %10s %10s %12s %14s\n", "case", "seconds", "GFLOP/s", "peak MiB", "rel. error");
    for (const auto& [name, c] : cases) {
        Result r;
        double peak = 0;
        if (!run_isolated(c, o, r, peak)) {
            std::printf("%-18s failed\n", name.c_str());
            return 1;
        }
        std::printf("%-18s %10.3f %10.1f %12.0f", name.c_str(), r.seconds, r.flops / r.seconds / 1e9, peak);
        if (r.extra > 0) std::printf(" %14.5f", r.extra);
        std::printf("\n");
    }
    std::printf("\npeak memory budget 4·(rows·cols + cols²) floats = %.0f MiB\n", limit_mib);
    return 0;
}
