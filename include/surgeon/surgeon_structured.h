/*
 * Surgeon C API: Calibration-free structured pruning (PruneNet policy, spectral KS distance,
 * FFN slicing).
 * Included by surgeon/surgeon.h; include that header, not this one.
 */
#ifndef SURGEON_SURGEON_STRUCTURED_H
#define SURGEON_SURGEON_STRUCTURED_H

#ifndef SURGEON_SURGEON_H
#  error "include surgeon/surgeon.h instead of this header"
#endif

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SURGEON_SURGEON_STRUCTURED_H */
