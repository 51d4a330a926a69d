package surgeon

import "surgeon.dev/surgeon/raw"

// PruneMagnitude removes the smallest |w| (one threshold over the whole matrix, exactly
// round(fraction · rows · cols) entries) or n:m per row, in place. w is rows × cols.
func PruneMagnitude(ctx *Context, w []float32, rows, cols int, sp Sparsity) (*Mask, error) {
	const fn = "surgeon_prune_magnitude"
	if err := checkMatrix(fn, "w", len(w), rows, cols); err != nil {
		return nil, err
	}
	return withMask(ctx, fn, func(c, m raw.Handle) error {
		return raw.Surgeon_prune_magnitude(c, w, int64(rows), int64(cols), 0, sp.Fraction, sp.N, sp.M, m)
	}, rows, cols)
}

// PruneWanda scores |w_ij|·‖x_j‖₂ (the norms from h) and compares within each output row,
// in place.
func PruneWanda(ctx *Context, w []float32, rows, cols int, h *Hessian, sp Sparsity) (*Mask, error) {
	const fn = "surgeon_prune_wanda"
	if err := checkMatrix(fn, "w", len(w), rows, cols); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fail(StatusInvalidArgument, fn, "h is nil")
	}
	hp, err := h.shared(fn)
	if err != nil {
		return nil, err
	}
	defer h.mu.RUnlock()
	return withMask(ctx, fn, func(c, m raw.Handle) error {
		return raw.Surgeon_prune_wanda(c, w, int64(rows), int64(cols), 0, hp, sp.Fraction, sp.N, sp.M, m)
	}, rows, cols)
}

func withMask(ctx *Context, fn string, call func(c, m raw.Handle) error, rows, cols int) (*Mask, error) {
	s, err := ctx.acquire(fn)
	if err != nil {
		return nil, err
	}
	defer s.release()
	mask, err := NewMask(0, 0)
	if err != nil {
		return nil, err
	}
	if err := check(call(s.raw(), raw.Handle(mask.ptr))); err != nil {
		mask.Close()
		return nil, err
	}
	mask.rows, mask.cols = rows, cols
	return mask, nil
}

// QuantizeRTN rounds w (rows × cols) to the nearest point of q's grid, in place.
func QuantizeRTN(ctx *Context, w []float32, rows, cols int, q *Quantizer) (*QResult, error) {
	const fn = "surgeon_quantize_rtn"
	if err := checkMatrix(fn, "w", len(w), rows, cols); err != nil {
		return nil, err
	}
	if q == nil {
		return nil, fail(StatusInvalidArgument, fn, "quantizer is nil")
	}
	qp, err := q.shared(fn)
	if err != nil {
		return nil, err
	}
	defer q.mu.RUnlock()
	s, err := ctx.acquire(fn)
	if err != nil {
		return nil, err
	}
	defer s.release()
	out, err := newQResult()
	if err != nil {
		return nil, err
	}
	err = check(raw.Surgeon_quantize_rtn(s.raw(), w, int64(rows), int64(cols), 0, qp, raw.Handle(out.ptr)))
	if err == nil {
		err = out.loadShape()
	}
	if err != nil {
		out.Close()
		return nil, err
	}
	return out, nil
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
	if h == nil {
		return 0, fail(StatusInvalidArgument, fn, "h is nil")
	}
	hp, err := h.shared(fn)
	if err != nil {
		return 0, err
	}
	defer h.mu.RUnlock()
	out := make([]float64, 1)
	err = check(raw.Surgeon_reconstruction_error(hp, w, wHat, int64(rows), int64(cols), 0, out))
	return out[0], err
}

// Version is the runtime library version ("0.1.0").
func Version() string { return raw.Surgeon_version() }

// VersionNumber is major·10000 + minor·100 + patch of the runtime library.
func VersionNumber() int { return raw.Surgeon_version_number() }

// HeaderVersionNumber is SURGEON_VERSION_NUMBER of the header the binding was built with.
var HeaderVersionNumber = raw.SURGEON_VERSION_NUMBER
