/* The C side of the Java overhead benchmark: feeds rows x cols floats (64 Mi by default) in
 * batches to surgeon_hessian_add_f32 and prints the best of `reps` passes.
 * usage: surgeon_java_bench_c [cols=512] [batch_rows=1024] [reps=3] [threads=2] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "surgeon/surgeon.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
    const int64_t total = (int64_t)64 << 20;
    const int64_t cols = argc > 1 ? atol(argv[1]) : 512;
    const int64_t batch = argc > 2 ? atol(argv[2]) : 1024;
    const int reps = argc > 3 ? atoi(argv[3]) : 3;
    const int threads = argc > 4 ? atoi(argv[4]) : 2;
    const int64_t rows = total / cols;
    float* x = malloc(sizeof(float) * (size_t)(batch * cols));
    surgeon_context* ctx = NULL;
    double best = 1e30;
    if (!x || surgeon_context_new(&ctx) || surgeon_context_set_threads(ctx, threads)) return 1;
    for (int64_t i = 0; i < batch * cols; ++i) x[i] = (float)((i * 7919) % 23 - 11) / 11.0f;
    for (int r = 0; r <= reps; ++r) { /* pass 0 warms up */
        surgeon_hessian* h = NULL;
        if (surgeon_hessian_new(&h, ctx, cols)) return 1;
        double t0 = now();
        for (int64_t done = 0; done < rows; done += batch) {
            int64_t n = rows - done < batch ? rows - done : batch;
            if (surgeon_hessian_add_f32(h, x, n, cols, 0)) {
                fprintf(stderr, "%s\n", surgeon_last_error());
                return 1;
            }
        }
        double t = now() - t0;
        if (r > 0 && t < best) best = t;
        surgeon_hessian_free(h);
    }
    printf("C        %lld x %lld floats in batches of %lld rows: %.3f s (%.2f GB/s)\n", (long long)rows,
           (long long)cols, (long long)batch, best, total * 4.0 / best / 1e9);
    surgeon_context_free(ctx);
    free(x);
    return 0;
}
