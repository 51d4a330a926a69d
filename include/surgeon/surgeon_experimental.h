/*
 * Surgeon C API: experimental functions. Their signatures may change in any release,
 * including patch releases; they are not covered by the stability promise of surgeon.h.
 *
 * The declarations are visible only when SURGEON_EXPERIMENTAL_API is defined before this
 * header is included:
 *
 *   #define SURGEON_EXPERIMENTAL_API
 *   #include "surgeon/surgeon_experimental.h"
 *
 * This header includes surgeon/surgeon.h; all of its conventions hold. It may be included
 * again with SURGEON_EXPERIMENTAL_API defined after a first inclusion without it.
 */
#include "surgeon/surgeon.h"

#if defined(SURGEON_EXPERIMENTAL_API) && !defined(SURGEON_EXPERIMENTAL_H_DECLARED)
#define SURGEON_EXPERIMENTAL_H_DECLARED

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------ */
/* Model-level structured pruning: FFN neurons and attention kv groups                   */
/* ------------------------------------------------------------------------------------ */

/* Options. Defaults: ratio 0.3, SURGEON_FFN_PRUNENET, no policy (one is trained with the
 * training options), uniform per-block ratios, head ratio 0, seed 1.
 *  - ratio in [0, 1): fraction of FFN neurons removed over the whole model;
 *  - method: SURGEON_FFN_L2, SURGEON_FFN_RANDOM (block b uses seed + b) or
 *    SURGEON_FFN_PRUNENET;
 *  - policy (PruneNet, copied; NULL clears): scores the neurons instead of a policy trained
 *    for the call. Its hidden size must be the model's;
 *  - training (PruneNet without a policy; copied, NULL restores the defaults; its version
 *    must be set): steps, samples, learning rate, features. Its ratio and seed are
 *    replaced by the options' ratio and seed;
 *  - spectral_ratios != 0: blocks whose spectrum degrades least are pruned more, the same
 *    total removed;
 *  - head_ratio in [0, 1): fraction of kv-head groups (with their query heads) removed from
 *    every block (the same count in all), chosen by the o-projection spectrum. The result
 *    then has n_heads · head_dim < dim: save it as a Hugging Face directory. */
typedef struct surgeon_structured_options surgeon_structured_options;

SURGEON_API surgeon_status surgeon_structured_options_new(surgeon_structured_options** out);
SURGEON_API void surgeon_structured_options_free(surgeon_structured_options* opts);
SURGEON_API surgeon_status surgeon_structured_options_set_ratio(surgeon_structured_options* opts,
                                                                double ratio);
SURGEON_API surgeon_status surgeon_structured_options_set_method(surgeon_structured_options* opts,
                                                                 surgeon_ffn_method method);
SURGEON_API surgeon_status surgeon_structured_options_set_policy(surgeon_structured_options* opts,
                                                                 const surgeon_prunenet* policy);
SURGEON_API surgeon_status surgeon_structured_options_set_training(
    surgeon_structured_options* opts, const surgeon_prunenet_options* training);
SURGEON_API surgeon_status surgeon_structured_options_set_spectral_ratios(
    surgeon_structured_options* opts, int enable);
SURGEON_API surgeon_status surgeon_structured_options_set_head_ratio(
    surgeon_structured_options* opts, double head_ratio);
SURGEON_API surgeon_status surgeon_structured_options_set_seed(surgeon_structured_options* opts,
                                                               uint64_t seed);
SURGEON_API surgeon_status surgeon_structured_options_get_ratio(
    const surgeon_structured_options* opts, double* out);
SURGEON_API surgeon_status surgeon_structured_options_get_head_ratio(
    const surgeon_structured_options* opts, double* out);

/* Removes FFN neurons (and kv groups when head_ratio > 0) from every block of the model,
 * in place (opts NULL: defaults). surgeon_model_get_config then gives the new sizes
 * (hidden_dim: the widest remaining FFN; n_heads, n_kv_heads). The JSON report
 * (parameters before and after, per-block ratios, FFN sizes, kv groups removed, seconds)
 * replaces the model's report: read it with surgeon_model_report. The quantization
 * results of an earlier compress are dropped (surgeon_model_save_gptq then has nothing
 * to write). The context's thread count applies. On failure the model is unchanged. */
SURGEON_API surgeon_status surgeon_model_prune_structured(const surgeon_context* ctx,
                                                          surgeon_model* model,
                                                          const surgeon_structured_options* opts);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SURGEON_EXPERIMENTAL_API */
