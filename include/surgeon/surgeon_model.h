/*
 * Surgeon C API: Whole-model pipeline (llama2.c / Hugging Face checkpoints, sequential
 * calibration, compression, perplexity).
 * Included by surgeon/surgeon.h; include that header, not this one.
 */
#ifndef SURGEON_SURGEON_MODEL_H
#define SURGEON_SURGEON_MODEL_H

#ifndef SURGEON_SURGEON_H
#  error "include surgeon/surgeon.h instead of this header"
#endif

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SURGEON_SURGEON_MODEL_H */
