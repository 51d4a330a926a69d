/* A program outside the Surgeon tree that sees only the installed header and library:
 * version check, Hessian accumulation against a hand-computed 2/n·Σxᵀx, SparseGPT 2:4 and
 * GPTQ 4-bit round trips checked against independent arithmetic, and one error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <surgeon/surgeon.h>

enum { COLS = 32, ROWS = 96, OUT = 8 };

static int failures = 0;
#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) {                                    \
            fprintf(stderr, "FAILED %s: ", #cond);        \
            fprintf(stderr, __VA_ARGS__);                 \
            fprintf(stderr, " (%s)\n", surgeon_last_error()); \
            ++failures;                                   \
        }                                                 \
    } while (0)

static unsigned long long lcg_state = 12345u;
static float uniform(void) { /* in [-1, 1) */
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((lcg_state >> 40) / 8388608.0 - 1.0);
}

/* tr(Δ H Δᵀ) / tr(W H Wᵀ), Δ = w - w_hat, in double. */
static double relative_error(const float* h, const float* w, const float* w_hat) {
    double num = 0.0, den = 0.0;
    for (int r = 0; r < OUT; ++r)
        for (int i = 0; i < COLS; ++i)
            for (int j = 0; j < COLS; ++j) {
                const double hij = h[i * COLS + j];
                num += (w[r * COLS + i] - w_hat[r * COLS + i]) * hij *
                       (w[r * COLS + j] - w_hat[r * COLS + j]);
                den += w[r * COLS + i] * hij * w[r * COLS + j];
            }
    return num / den;
}

int main(void) {
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", SURGEON_VERSION_MAJOR,
             SURGEON_VERSION_MINOR, SURGEON_VERSION_PATCH);
    CHECK(strcmp(surgeon_version(), expected) == 0, "version %s", surgeon_version());
    CHECK(surgeon_version_number() == SURGEON_VERSION_NUMBER, "version number");

    /* Correlated inputs: every column mixes in column 0, so H is far from diagonal. */
    static float x[ROWS * COLS], h[COLS * COLS], w[OUT * COLS];
    for (int i = 0; i < ROWS * COLS; ++i) x[i] = uniform();
    for (int r = 0; r < ROWS; ++r)
        for (int j = 1; j < COLS; ++j) x[r * COLS + j] += 0.5f * x[r * COLS];
    for (int i = 0; i < OUT * COLS; ++i) w[i] = uniform();

    surgeon_hessian* acc = NULL;
    CHECK(surgeon_hessian_new(&acc, NULL, COLS) == SURGEON_OK, "hessian_new");
    CHECK(surgeon_hessian_add_f32(acc, x, 40, COLS, 0) == SURGEON_OK, "add first rows");
    CHECK(surgeon_hessian_add_f32(acc, x + 40 * COLS, ROWS - 40, COLS, 0) == SURGEON_OK,
          "add other rows");
    CHECK(surgeon_hessian_copy(acc, h, 0) == SURGEON_OK, "copy");
    double worst = 0.0;
    for (int i = 0; i < COLS; ++i)
        for (int j = 0; j < COLS; ++j) {
            double ref = 0.0;
            for (int r = 0; r < ROWS; ++r) ref += (double)x[r * COLS + i] * x[r * COLS + j];
            ref *= 2.0 / ROWS;
            worst = fmax(worst, fabs(ref - h[i * COLS + j]));
        }
    CHECK(worst < 1e-5, "H differs from 2/n·Σxᵀx by %g", worst);

    /* SparseGPT 2:4: the mask, the zeros and the reported error match independent math. */
    float pruned[OUT * COLS], magnitude[OUT * COLS];
    memcpy(pruned, w, sizeof w);
    memcpy(magnitude, w, sizeof w);
    surgeon_solver* solver = NULL;
    surgeon_solver_options* solver_opts = NULL;
    surgeon_prune_options* opts = NULL;
    surgeon_prune_result* pruning = NULL;
    surgeon_mask* mask = NULL;
    double loss = -1.0, sparsity = 0.0, err_api = 0.0;
    int nm_ok = 0;
    CHECK(surgeon_solver_options_new(&solver_opts) == SURGEON_OK, "solver_options_new");
    CHECK(surgeon_solver_options_set_block_size(solver_opts, 16) == SURGEON_OK, "block size");
    CHECK(surgeon_solver_new(&solver, NULL, acc, solver_opts) == SURGEON_OK, "solver_new");
    CHECK(surgeon_prune_options_new(&opts) == SURGEON_OK, "prune_options_new");
    CHECK(surgeon_prune_options_set_nm(opts, 2, 4) == SURGEON_OK, "2:4");
    CHECK(surgeon_prune_result_new(&pruning) == SURGEON_OK, "prune_result_new");
    CHECK(surgeon_solver_prune(solver, pruned, OUT, COLS, 0, opts, pruning) == SURGEON_OK,
          "prune 2:4");
    CHECK(surgeon_prune_result_mask(pruning, &mask) == SURGEON_OK && mask != NULL, "mask");
    CHECK(surgeon_prune_result_loss(pruning, &loss) == SURGEON_OK, "loss");
    CHECK(surgeon_mask_check_nm(mask, 2, 4, &nm_ok) == SURGEON_OK && nm_ok == 1, "2:4 pattern");
    CHECK(surgeon_mask_sparsity(mask, &sparsity) == SURGEON_OK && sparsity == 0.5,
          "sparsity %g", sparsity);
    unsigned char keep[OUT * COLS];
    CHECK(surgeon_mask_to_bytes(mask, keep) == SURGEON_OK, "mask bytes");
    for (int i = 0; i < OUT * COLS; ++i)
        if (!keep[i]) CHECK(pruned[i] == 0.0f, "pruned weight %d is %g", i, pruned[i]);
    CHECK(loss >= 0.0 && isfinite(loss), "loss %g", loss);
    CHECK(surgeon_reconstruction_error(acc, w, pruned, OUT, COLS, 0, &err_api) == SURGEON_OK,
          "reconstruction_error");
    const double err_ref = relative_error(h, w, pruned);
    CHECK(fabs(err_api - err_ref) <= 1e-3 * err_ref, "error %g vs %g", err_api, err_ref);
    CHECK(surgeon_prune_magnitude(NULL, magnitude, OUT, COLS, 0, opts, NULL) == SURGEON_OK,
          "magnitude 2:4");
    const double err_magnitude = relative_error(h, w, magnitude);
    CHECK(err_ref < err_magnitude, "SparseGPT %g vs magnitude %g", err_ref, err_magnitude);

    /* GPTQ 4-bit: the in-place result equals the dequantized codes, codes fit 4 bits. */
    float quantized[OUT * COLS], dequantized[OUT * COLS];
    unsigned char codes[OUT * COLS];
    memcpy(quantized, w, sizeof w);
    surgeon_quantizer* quantizer = NULL;
    surgeon_qresult* result = NULL;
    CHECK(surgeon_quantizer_new(&quantizer, 4) == SURGEON_OK, "quantizer_new");
    CHECK(surgeon_qresult_new(&result) == SURGEON_OK, "qresult_new");
    CHECK(surgeon_solver_quantize(solver, quantized, OUT, COLS, 0, quantizer, result, NULL) ==
              SURGEON_OK, "quantize");
    CHECK(surgeon_qresult_codes(result, codes) == SURGEON_OK, "codes");
    CHECK(surgeon_qresult_dequantize(result, dequantized, 0) == SURGEON_OK, "dequantize");
    for (int i = 0; i < OUT * COLS; ++i) {
        CHECK(codes[i] < 16, "code %d is %d", i, codes[i]);
        CHECK(fabsf(dequantized[i] - quantized[i]) <= 1e-6f * (1.0f + fabsf(quantized[i])),
              "weight %d: %g vs %g", i, dequantized[i], quantized[i]);
    }

    /* Errors cross the boundary as status codes with a message. */
    surgeon_hessian* bad = NULL;
    CHECK(surgeon_hessian_new(&bad, NULL, 0) == SURGEON_ERR_INVALID_ARGUMENT && bad == NULL,
          "cols = 0 accepted");
    CHECK(surgeon_last_error()[0] != '\0', "empty error message");

    surgeon_qresult_free(result);
    surgeon_quantizer_free(quantizer);
    surgeon_mask_free(mask);
    surgeon_prune_result_free(pruning);
    surgeon_prune_options_free(opts);
    surgeon_solver_free(solver);
    surgeon_solver_options_free(solver_opts);
    surgeon_hessian_free(acc);
    printf("surgeon %s: H error %.2g, SparseGPT 2:4 error %.4f (magnitude %.4f)%s\n",
           surgeon_version(), worst, err_ref, err_magnitude, failures ? ", FAILED" : "");
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
