/* The experimental header from strict C99: included once without SURGEON_EXPERIMENTAL_API
 * (nothing declared), then with it. Prunes a quarter of the FFN neurons and half of the kv
 * groups of the model given as argv[1] (stories260K: dim 64, hidden 172, 8 heads, 4 kv
 * heads) by the L2 baseline and checks the new configuration and the report. Prints
 * nothing on success. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "surgeon/surgeon_experimental.h"
#define SURGEON_EXPERIMENTAL_API
#include "surgeon/surgeon_experimental.h"

static int failures = 0;

static void check(surgeon_status status, const char* what) {
    if (status == SURGEON_OK) return;
    fprintf(stderr, "%s: %s (%s)\n", what, surgeon_status_string(status), surgeon_last_error());
    ++failures;
}

int main(int argc, char** argv) {
    surgeon_model* model = NULL;
    surgeon_structured_options* opts = NULL;
    surgeon_model_config before = SURGEON_MODEL_CONFIG_INIT, after = SURGEON_MODEL_CONFIG_INIT;
    double ratio = 0.0;
    size_t needed = 0;
    char* report = NULL;

    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL\n", argv[0]);
        return EXIT_FAILURE;
    }
    check(surgeon_model_load(&model, NULL, argv[1]), "model_load");
    check(surgeon_structured_options_new(&opts), "structured_options_new");
    if (failures) goto done;
    check(surgeon_structured_options_get_ratio(opts, &ratio), "get_ratio");
    if (ratio != 0.3) {
        fprintf(stderr, "default ratio %g\n", ratio);
        ++failures;
    }
    check(surgeon_structured_options_set_method(opts, SURGEON_FFN_L2), "set_method");
    check(surgeon_structured_options_set_ratio(opts, 0.25), "set_ratio");
    check(surgeon_structured_options_set_head_ratio(opts, 0.5), "set_head_ratio");
    if (surgeon_structured_options_set_ratio(opts, 1.0) != SURGEON_ERR_INVALID_ARGUMENT) {
        fprintf(stderr, "ratio 1.0 was accepted\n");
        ++failures;
    }
    check(surgeon_model_get_config(model, &before), "get_config");
    check(surgeon_model_prune_structured(NULL, model, opts), "prune_structured");
    check(surgeon_model_get_config(model, &after), "get_config");
    if (failures) goto done;
    /* 172 - round(0.25 · 172) = 129 neurons; 4 - round(0.5 · 4) = 2 kv groups of 2 heads. */
    if (after.hidden_dim != 129 || after.n_kv_heads != 2 || after.n_heads != 4 ||
        after.head_dim != before.head_dim || after.dim != before.dim) {
        fprintf(stderr, "config after pruning: hidden %ld, heads %ld/%ld, head_dim %ld\n",
                (long)after.hidden_dim, (long)after.n_heads, (long)after.n_kv_heads,
                (long)after.head_dim);
        ++failures;
    }
    /* Per block: 43 neurons × 3 matrices × dim, and 2 groups of head_dim × dim blocks:
     * 2 query heads of wq, 1 of wk, 1 of wv and the 2 heads' columns of wo (6 each). */
    if (before.parameters - after.parameters !=
        before.n_layers * (43 * 3 * before.dim + 2 * 6 * before.head_dim * before.dim)) {
        fprintf(stderr, "parameters %ld -> %ld\n", (long)before.parameters, (long)after.parameters);
        ++failures;
    }
    check(surgeon_model_report(model, NULL, 0, &needed), "report size");
    report = malloc(needed);
    check(surgeon_model_report(model, report, needed, &needed), "report");
    if (!failures && (strstr(report, "\"ffn_sizes\":[129,129,129,129,129]") == NULL ||
                      strstr(report, "\"method\":\"l2\"") == NULL)) {
        fprintf(stderr, "report: %s\n", report);
        ++failures;
    }

done:
    free(report);
    surgeon_structured_options_free(opts);
    surgeon_model_free(model);
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
