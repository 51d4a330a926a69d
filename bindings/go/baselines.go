package surgeon

import "surgeon.dev/surgeon/raw"

// PruneMagnitude removes the smallest |w| (one threshold over the whole matrix, exactly
// round(sparsity · rows · cols) entries) or n:m per row, in place, as opts says (nil: the
// defaults; options with a quantizer are refused). w is rows × cols.
func PruneMagnitude(ctx *Context, w []float32, rows, cols int, opts *PruneOptions) (*Mask, error) {
	return baseline(ctx, "surgeon_prune_magnitude", w, rows, cols, func(c raw.Handle, p []raw.Handle) error {
		return raw.Surgeon_prune_magnitude(c, w, int64(rows), int64(cols), 0, p[1], p[0])
	}, ref(opts))
}

// PruneWanda scores |w_ij|·‖x_j‖₂ (the norms from h) and compares within each output row,
// in place.
func PruneWanda(ctx *Context, w []float32, rows, cols int, h *Hessian, opts *PruneOptions) (*Mask, error) {
	return baseline(ctx, "surgeon_prune_wanda", w, rows, cols, func(c raw.Handle, p []raw.Handle) error {
		return raw.Surgeon_prune_wanda(c, w, int64(rows), int64(cols), 0, p[1], p[2], p[0])
	}, ref(h), ref(opts))
}

// baseline runs a baseline pruner on w (rows × cols) with ctx and the inputs read-locked:
// call receives the new mask first, then the inputs.
func baseline(ctx *Context, fn string, w []float32, rows, cols int, call func(c raw.Handle, p []raw.Handle) error,
	inputs ...*handle) (*Mask, error) {
	if err := checkMatrix(fn, "w", len(w), rows, cols); err != nil {
		return nil, err
	}
	return newMask(rows, cols, func(m *handle) error {
		return ctx.using(fn, call, append([]*handle{m}, inputs...)...)
	})
}

// QuantizeRTN rounds w (rows × cols) to the nearest point of q's grid, in place.
func QuantizeRTN(ctx *Context, w []float32, rows, cols int, q *Quantizer) (*QuantResult, error) {
	const fn = "surgeon_quantize_rtn"
	if err := checkMatrix(fn, "w", len(w), rows, cols); err != nil {
		return nil, err
	}
	return newQuantResult(func(r *handle) error {
		return ctx.using(fn, func(c raw.Handle, p []raw.Handle) error {
			return raw.Surgeon_quantize_rtn(c, w, int64(rows), int64(cols), 0, p[0], p[1])
		}, ref(q), r)
	})
}

// ReconstructionError is tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) with ΔW = w - wHat (both rows × cols,
// cols = h.Cols()).
func ReconstructionError(h *Hessian, w, wHat []float32, rows, cols int) (float64, error) {
	const fn = "surgeon_reconstruction_error"
	if err := checkMatrix(fn, "w", len(w), rows, cols); err != nil {
		return 0, err
	}
	if err := checkMatrix(fn, "w_hat", len(wHat), rows, cols); err != nil {
		return 0, err
	}
	return scalar(func(out []float64) error {
		return using(fn, false, func(p []raw.Handle) error {
			return raw.Surgeon_reconstruction_error(p[0], w, wHat, int64(rows), int64(cols), 0, out)
		}, ref(h))
	})
}

// Version is the runtime library version ("0.2.0").
func Version() string { return raw.Surgeon_version() }

// VersionNumber is major·10000 + minor·100 + patch of the runtime library.
func VersionNumber() int { return raw.Surgeon_version_number() }

// HeaderVersionNumber is SURGEON_VERSION_NUMBER of the header the binding was built with.
var HeaderVersionNumber = raw.SURGEON_VERSION_NUMBER
