/*
 * Surgeon C API: Calibration-free structured pruning (PruneNet policy, spectral KS distance,
 * FFN slicing).
 * Included by surgeon/surgeon.h; include that header, not this one.
 *
 * An FFN block of a Llama model is three row-major float32 matrices: gate (hidden x dim),
 * up (hidden x dim) and down (dim x hidden). Removing neuron i drops row i of gate and up
 * and column i of down. All buffers are caller-owned and tightly packed; the library never
 * keeps a pointer to them. On failure no output buffer is written (nor an input that a
 * call updates in place).
 */
#ifndef SURGEON_SURGEON_STRUCTURED_H
#define SURGEON_SURGEON_STRUCTURED_H

#ifndef SURGEON_SURGEON_H
#  error "include surgeon/surgeon.h instead of this header"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------ */
/* Spectra                                                                               */
/* ------------------------------------------------------------------------------------ */

/* Singular values of a (rows x cols, leading dimension ld, 0 = cols), descending, into
 * `out` (caller-owned, min(rows, cols) floats). */
SURGEON_API surgeon_status surgeon_singular_values(const float* a, int64_t rows, int64_t cols,
                                                   int64_t ld, float* out);

/* Kolmogorov-Smirnov distance sup |F_a - F_b| between the empirical distributions of the
 * samples a (na >= 1 values) and b (nb >= 1 values), into *out (in [0, 1]). */
SURGEON_API surgeon_status surgeon_ks_distance(const float* a, int64_t na, const float* b,
                                               int64_t nb, double* out);

/* KS distance between the singular values of `original` (rows x cols) and of `pruned`
 * (pruned_rows x pruned_cols), both tightly packed. */
SURGEON_API surgeon_status surgeon_spectral_distance(const float* original, int64_t rows,
                                                     int64_t cols, const float* pruned,
                                                     int64_t pruned_rows, int64_t pruned_cols,
                                                     double* out);

/* ------------------------------------------------------------------------------------ */
/* FFN neurons: scores, selection, slicing                                               */
/* ------------------------------------------------------------------------------------ */

typedef enum surgeon_ffn_method {
    SURGEON_FFN_L2 = 0,     /* score_i = ||[gate_i, up_i]||_2                            */
    SURGEON_FFN_RANDOM = 1, /* seeded uniform scores (the random-rows baseline)          */
    SURGEON_FFN_PRUNENET = 2 /* a PruneNet policy's keep-probabilities: model-level pruning
                                (surgeon_experimental.h) or surgeon_prunenet_scores       */
} surgeon_ffn_method;

/* Baseline scores (SURGEON_FFN_L2 or SURGEON_FFN_RANDOM) of the `hidden` neurons (higher =
 * keep) into `scores` (hidden floats). `down` is accepted for symmetry and may be NULL. */
SURGEON_API surgeon_status surgeon_ffn_scores(surgeon_ffn_method method, const float* gate,
                                              const float* up, const float* down, int64_t hidden,
                                              int64_t dim, uint64_t seed, float* scores);

/* Neurons kept when removing round(ratio * hidden) of them (at least one kept): the
 * highest scores, ties to the lower index, written ascending into keep (buffer convention
 * of surgeon.h: *needed = the number kept). 0 <= ratio < 1. */
SURGEON_API surgeon_status surgeon_ffn_select(const float* scores, int64_t hidden, double ratio,
                                              int64_t* keep, size_t cap, size_t* needed);

/* Keeps only the neurons `keep` (ascending, unique, each < hidden; keep_count >= 1), in
 * place: afterwards gate and up hold keep_count x dim values and down dim x keep_count
 * (tightly packed at the start of each buffer; the rest of the buffers is unspecified). */
SURGEON_API surgeon_status surgeon_ffn_slice(float* gate, float* up, float* down, int64_t hidden,
                                             int64_t dim, const int64_t* keep,
                                             int64_t keep_count);

/* ------------------------------------------------------------------------------------ */
/* PruneNet policy (arXiv 2501.15296)                                                    */
/* ------------------------------------------------------------------------------------ */

/* A policy scoring FFN neurons from their weights alone, for one hidden size `dim`.
 * Opaque; surgeon_prunenet_free releases it. Read-only calls (const) may run concurrently. */
typedef struct surgeon_prunenet surgeon_prunenet;

typedef struct surgeon_prunenet_options {
    unsigned int version; /* SURGEON_PRUNENET_OPTIONS_VERSION                              */
    int steps;            /* optimisation steps, cycling over the blocks (>= 1)           */
    double ratio;         /* fraction of neurons removed during training, [0, 1)          */
    int samples;          /* selections sampled per step, their mean is the baseline (>= 2) */
    int features;         /* hidden units of the policy (>= 1)                             */
    double learning_rate; /* Adam step size (> 0)                                          */
    uint64_t seed;        /* initialisation and sampling; same seed, same policy           */
} surgeon_prunenet_options;

/* The defaults: 150 steps, ratio 0.3, 8 samples, 8 features, learning rate 0.05, seed 1. */
#define SURGEON_PRUNENET_OPTIONS_VERSION 1
#define SURGEON_PRUNENET_OPTIONS_INIT {SURGEON_PRUNENET_OPTIONS_VERSION, 150, 0.3, 8, 8, 0.05, 1}
/* Initialises *options as SURGEON_PRUNENET_OPTIONS_INIT does. */
SURGEON_API surgeon_status surgeon_prunenet_options_init(surgeon_prunenet_options* options,
                                                         unsigned int version);

/* An untrained (randomly initialised) policy for hidden size `dim`. */
SURGEON_API surgeon_status surgeon_prunenet_new(surgeon_prunenet** out, int64_t dim, int features,
                                                uint64_t seed);
SURGEON_API void surgeon_prunenet_free(surgeon_prunenet* policy);

/* Trains a new policy with REINFORCE (reward: minus the mean KS distance of the gate, up
 * and down spectra after removal) on every block of the model at `model_path` (llama2.c
 * .bin or Hugging Face directory). `options` NULL: defaults (else its version must be set).
 * On success *out is a new handle. */
SURGEON_API surgeon_status surgeon_prunenet_train_model(surgeon_prunenet** out,
                                                        const surgeon_context* ctx,
                                                        const char* model_path,
                                                        const surgeon_prunenet_options* options);

/* Same on caller matrices: `blocks` FFNs of hidden size `dim`; block b has hidden[b]
 * neurons and matrices ffn[3b] = gate, ffn[3b + 1] = up (hidden[b] x dim) and
 * ffn[3b + 2] = down (dim x hidden[b]); ffn holds 3 · blocks pointers. */
SURGEON_API surgeon_status surgeon_prunenet_train_ffn(surgeon_prunenet** out,
                                                      const surgeon_context* ctx, int64_t dim,
                                                      int64_t blocks, const float* const* ffn,
                                                      const int64_t* hidden,
                                                      const surgeon_prunenet_options* options);

/* Policy file (JSON): save writes it, load creates a new handle from it (both logged to
 * the context's log callback). path: borrowed. */
SURGEON_API surgeon_status surgeon_prunenet_save(const surgeon_context* ctx,
                                                 const surgeon_prunenet* policy,
                                                 const char* path);
SURGEON_API surgeon_status surgeon_prunenet_load(surgeon_prunenet** out, const surgeon_context* ctx,
                                                 const char* path);

/* Hidden size the policy applies to. */
SURGEON_API surgeon_status surgeon_prunenet_dim(const surgeon_prunenet* policy, int64_t* dim);

/* Keep-probabilities of one block's neurons into `scores` (hidden floats). `dim` must be
 * the policy's. surgeon_ffn_select on them gives the policy's selection at any ratio. */
SURGEON_API surgeon_status surgeon_prunenet_scores(const surgeon_prunenet* policy, const float* gate,
                                                   const float* up, const float* down,
                                                   int64_t hidden, int64_t dim, float* scores);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SURGEON_SURGEON_STRUCTURED_H */
