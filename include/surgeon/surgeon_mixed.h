/*
 * Surgeon C API: Activation-aware mixed-precision quantization (per-row importance, bit
 * allocation, statistics).
 * Included by surgeon/surgeon.h; include that header, not this one.
 */
#ifndef SURGEON_SURGEON_MIXED_H
#define SURGEON_SURGEON_MIXED_H

#ifndef SURGEON_SURGEON_H
#  error "include surgeon/surgeon.h instead of this header"
#endif

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SURGEON_SURGEON_MIXED_H */
