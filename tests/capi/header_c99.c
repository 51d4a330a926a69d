/* Compiled as strict C99 (-std=c99 -Wall -Wextra -pedantic -Werror): the public header
 * must be valid C, and a tiny end-to-end run must work from C. Prints nothing on
 * success; on failure prints the reason and returns non-zero. */
#include <stdio.h>
#include <stdlib.h>

#include "surgeon/surgeon.h"

#define ROWS 8
#define COLS 32
#define TOKENS 200

static int check(surgeon_status status, const char* what) {
    if (status == SURGEON_OK) return 0;
    fprintf(stderr, "%s: %s (%s)\n", what, surgeon_status_string(status), surgeon_last_error());
    return 1;
}

/* Deterministic pseudo-random numbers in [-1, 1) without relying on rand(). */
static float next_value(unsigned long* state) {
    *state = (*state * 1103515245ul + 12345ul) & 0x7ffffffful;
    return (float)(*state >> 8) / (float)(1ul << 22) - 1.0f;
}

int main(void) {
    static float x[TOKENS * COLS];
    float w[ROWS * COLS], original[ROWS * COLS];
    unsigned char keep[ROWS * COLS];
    unsigned long state = 12345ul;
    surgeon_hessian* h = NULL;
    surgeon_solver* solver = NULL;
    surgeon_solver_options* solver_opts = NULL;
    surgeon_prune_options* opts = NULL;
    surgeon_prune_result* result = NULL;
    surgeon_mask* mask = NULL;
    int failures = 0, nm_ok = 0, i, g, k;
    int64_t samples = 0;
    double error = -1.0;

    if (surgeon_version_number() != SURGEON_VERSION_NUMBER) {
        fprintf(stderr, "header %d vs library %d\n", SURGEON_VERSION_NUMBER,
                surgeon_version_number());
        return 1;
    }
    for (i = 0; i < TOKENS * COLS; ++i) x[i] = next_value(&state);
    for (i = 0; i < ROWS * COLS; ++i) original[i] = w[i] = next_value(&state);

    failures += check(surgeon_hessian_new(&h, NULL, COLS), "hessian_new");
    failures += check(surgeon_hessian_add_f32(h, x, TOKENS / 2, COLS, 0), "add 1");
    failures += check(surgeon_hessian_add_f32(h, x + (TOKENS / 2) * COLS, TOKENS / 2, COLS, 0),
                      "add 2");
    failures += check(surgeon_hessian_samples(h, &samples), "samples");
    failures += check(surgeon_solver_options_new(&solver_opts), "solver_options_new");
    if (failures) goto done;
    failures += check(surgeon_solver_options_set_block_size(solver_opts, 32), "set_block_size");
    failures += check(surgeon_solver_new(&solver, NULL, h, solver_opts), "solver_new");
    failures += check(surgeon_prune_options_new(&opts), "prune_options_new");
    failures += check(surgeon_prune_result_new(&result), "prune_result_new");
    if (failures) goto done;
    failures += check(surgeon_prune_options_set_nm(opts, 2, 4), "set_nm");

    failures += check(surgeon_solver_prune(solver, w, ROWS, COLS, 0, opts, result),
                      "solver_prune");
    failures += check(surgeon_prune_result_mask(result, &mask), "result_mask");
    if (failures) goto done;
    failures += check(surgeon_mask_check_nm(mask, 2, 4, &nm_ok), "check_nm");
    failures += check(surgeon_mask_to_bytes(mask, keep), "to_bytes");
    failures += check(surgeon_reconstruction_error(h, original, w, ROWS, COLS, 0, &error),
                      "reconstruction_error");
    if (failures) goto done;

    if (samples != TOKENS) {
        fprintf(stderr, "samples %ld, expected %d\n", (long)samples, TOKENS);
        ++failures;
    }
    if (!nm_ok) {
        fprintf(stderr, "the mask is not 2:4\n");
        ++failures;
    }
    /* Exactly two zeros in every group of four, and only where the mask prunes. */
    for (i = 0; i < ROWS; ++i)
        for (g = 0; g < COLS; g += 4) {
            int zeros = 0;
            for (k = g; k < g + 4; ++k) {
                const int idx = i * COLS + k;
                if (w[idx] == 0.0f) ++zeros;
                if ((w[idx] == 0.0f) != (keep[idx] == 0)) {
                    fprintf(stderr, "weight and mask disagree at %d\n", idx);
                    ++failures;
                }
            }
            if (zeros != 2) {
                fprintf(stderr, "row %d group %d has %d zeros\n", i, g / 4, zeros);
                ++failures;
            }
        }
    /* Half of the weights gone: the error is clearly positive but far below 1. */
    if (!(error > 0.0 && error < 0.5)) {
        fprintf(stderr, "relative reconstruction error %g out of range\n", error);
        ++failures;
    }
    /* An error path from C: status and message. */
    if (surgeon_prune_options_set_sparsity(opts, 1.0) != SURGEON_ERR_INVALID_ARGUMENT ||
        surgeon_last_error()[0] == '\0') {
        fprintf(stderr, "sparsity 1.0 was not rejected\n");
        ++failures;
    }

done:
    surgeon_mask_free(mask);
    surgeon_prune_result_free(result);
    surgeon_prune_options_free(opts);
    surgeon_solver_options_free(solver_opts);
    surgeon_solver_free(solver);
    surgeon_hessian_free(h);
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
