/* Public structs, as libgit2's structinit test: for every versioned struct, the
 * SURGEON_<NAME>_INIT macro and surgeon_<name>_init() give the same bytes, the version
 * field is set, and an unknown version is refused without writing the struct. Compiled
 * as strict C99. Prints nothing on success; on failure prints the reason and returns
 * non-zero.
 *
 * The macro-initialised objects have static storage, whose padding C guarantees to be
 * zero; surgeon_<name>_init() zeroes every byte before filling the fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "surgeon/surgeon.h"

static int failures = 0;

static void fail(const char* what) {
    fprintf(stderr, "%s (%s)\n", what, surgeon_last_error());
    ++failures;
}

/* `filled` holds the init() output, `sentinel` a buffer of 0xA5 bytes the refused calls
 * must leave alone. */
#define CHECK_STRUCT(type, version_macro, init_macro, init_fn)                                \
    do {                                                                                  \
        static const type from_macro = init_macro;                                        \
        type filled, sentinel, untouched;                                                 \
        memset(&filled, 0xA5, sizeof filled);                                             \
        if (init_fn(&filled, version_macro) != SURGEON_OK) fail(#init_fn " failed");      \
        if (memcmp(&from_macro, &filled, sizeof filled) != 0)                              \
            fail(#init_macro " and " #init_fn " differ");                                 \
        if (filled.version != version_macro) fail(#init_fn " left the version unset");    \
        if (from_macro.version != version_macro) fail(#init_macro " has another version"); \
        memset(&sentinel, 0xA5, sizeof sentinel);                                         \
        untouched = sentinel;                                                             \
        if (init_fn(&sentinel, version_macro + 1) != SURGEON_ERR_INVALID_ARGUMENT ||      \
            init_fn(&sentinel, 0) != SURGEON_ERR_INVALID_ARGUMENT)                        \
            fail(#init_fn " accepted an unknown version");                                \
        if (memcmp(&sentinel, &untouched, sizeof sentinel) != 0)                           \
            fail(#init_fn " wrote a struct it refused");                                  \
        if (init_fn(NULL, version_macro) != SURGEON_ERR_INVALID_ARGUMENT)                 \
            fail(#init_fn " accepted NULL");                                              \
    } while (0)

int main(void) {
    CHECK_STRUCT(surgeon_prunenet_options, SURGEON_PRUNENET_OPTIONS_VERSION,
                 SURGEON_PRUNENET_OPTIONS_INIT, surgeon_prunenet_options_init);
    CHECK_STRUCT(surgeon_mixed_stats, SURGEON_MIXED_STATS_VERSION, SURGEON_MIXED_STATS_INIT,
                 surgeon_mixed_stats_init);
    CHECK_STRUCT(surgeon_model_config, SURGEON_MODEL_CONFIG_VERSION, SURGEON_MODEL_CONFIG_INIT,
                 surgeon_model_config_init);
    CHECK_STRUCT(surgeon_perplexity, SURGEON_PERPLEXITY_VERSION, SURGEON_PERPLEXITY_INIT,
                 surgeon_perplexity_init);

    /* The defaults the macro spells out are the library's. */
    {
        surgeon_prunenet_options o = SURGEON_PRUNENET_OPTIONS_INIT;
        if (o.steps != 150 || o.ratio != 0.3 || o.samples != 8 || o.features != 8 ||
            o.learning_rate != 0.05 || o.seed != 1)
            fail("SURGEON_PRUNENET_OPTIONS_INIT does not hold the documented defaults");
    }

    /* A function receiving a struct of another version refuses it. */
    {
        const int32_t bits[4] = {2, 3, 4, 8};
        surgeon_mixed_stats stats = SURGEON_MIXED_STATS_INIT;
        size_t needed = 0;
        if (surgeon_mixed_stats_compute(bits, 4, 16, 0, 16, -1, NULL, &stats) != SURGEON_OK)
            fail("mixed_stats_compute on an initialised struct");
        if (stats.channels != 4 || stats.avg_bits != 4.25) fail("mixed_stats_compute values");
        stats.version = SURGEON_MIXED_STATS_VERSION + 1;
        if (surgeon_mixed_stats_compute(bits, 4, 16, 0, 16, -1, NULL, &stats) !=
                SURGEON_ERR_INVALID_ARGUMENT ||
            surgeon_mixed_stats_json(&stats, NULL, 0, &needed) != SURGEON_ERR_INVALID_ARGUMENT)
            fail("a mixed_stats of an unknown version was accepted");
        if (stats.channels != 4 || needed != 0) fail("a refused call wrote its output");
    }
    {
        surgeon_prunenet_options o = SURGEON_PRUNENET_OPTIONS_INIT;
        surgeon_prunenet* policy = NULL;
        const float gate[4] = {1, 2, 3, 4}, up[4] = {1, 0, 0, 1}, down[4] = {1, 1, 1, 1};
        const float* ffn[3];
        const int64_t hidden[1] = {2};
        ffn[0] = gate;
        ffn[1] = up;
        ffn[2] = down;
        o.version = 0;
        if (surgeon_prunenet_train_ffn(&policy, NULL, 2, 1, ffn, hidden, &o) !=
                SURGEON_ERR_INVALID_ARGUMENT ||
            policy != NULL)
            fail("prunenet options of an unknown version were accepted");
    }
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
