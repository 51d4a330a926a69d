package surgeon

import "surgeon.dev/surgeon/raw"

// Solver runs SparseGPT pruning and GPTQ quantization from one factorization of a layer's
// Hessian. Prune and Quantize may run concurrently on one Solver (the factorization is
// computed once, on first use).
type Solver struct {
	handle
	cols int
}

// MaskScope is how SparseGPT chooses the mask within a block of columns.
type MaskScope int

const (
	// ScopeBlock uses one threshold over each block of columns (all rows): the reference.
	ScopeBlock MaskScope = 0
	// ScopeRow gives every row of each block the same sparsity.
	ScopeRow MaskScope = 1
)

// Sparsity is either a fraction of weights removed (N = M = 0) or N pruned in every group
// of M columns of a row (Fraction is then ignored).
type Sparsity struct {
	Fraction float64
	N, M     int
}

// Fraction removes the given fraction of the weights, in [0, 1).
func Fraction(f float64) Sparsity { return Sparsity{Fraction: f} }

// NOfM prunes n weights in every group of m columns of a row (2:4, 4:8, ...).
func NOfM(n, m int) Sparsity { return Sparsity{N: n, M: m} }

// PruneOptions configures Solver.Prune.
type PruneOptions struct {
	Sparsity
	Scope MaskScope
	// Quantizer, when set, quantizes jointly with pruning and fills PruneResult.Quant.
	Quantizer *Quantizer
}

// PruneResult is what Prune produces besides the updated weight. Close releases the mask
// and the codes (also released by the garbage collector if forgotten).
type PruneResult struct {
	Mask  *Mask
	Quant *QResult // nil without a quantizer
	Loss  float64  // the OBS loss Σ (w - q)² / (2 [U]jj²)
}

// Close frees the mask and the codes. Idempotent.
func (r *PruneResult) Close() error {
	if r.Mask != nil {
		r.Mask.Close()
	}
	if r.Quant != nil {
		r.Quant.Close()
	}
	return nil
}

// QuantizeResult is what Quantize produces besides the updated weight.
type QuantizeResult struct {
	Quant *QResult
	Loss  float64
}

// Close frees the codes. Idempotent.
func (r *QuantizeResult) Close() error {
	if r.Quant != nil {
		r.Quant.Close()
	}
	return nil
}

// NewSolver copies h (which may be closed afterwards) and uses h's context. percdamp >= 0
// (reference 0.01) is the damping as a fraction of mean(diag H); blockSize >= 1
// (reference 128) is the number of columns processed per block.
func NewSolver(h *Hessian, percdamp float64, blockSize int) (*Solver, error) {
	const fn = "surgeon_solver_new"
	if h == nil {
		return nil, fail(StatusInvalidArgument, fn, "h is nil")
	}
	hp, err := h.shared(fn)
	if err != nil {
		return nil, err
	}
	defer h.mu.RUnlock()
	s := h.ctx.retain()
	var ptr raw.Handle
	if err := check(raw.Surgeon_solver_new(&ptr, s.raw(), hp, percdamp, int64(blockSize))); err != nil {
		s.release()
		return nil, err
	}
	solver := &Solver{cols: h.cols}
	solver.init("Solver", ptr, func(p raw.Handle) { raw.Surgeon_solver_free(p) }, s)
	setFinalizer(solver)
	return solver, nil
}

// Factorize computes the factorization now (Prune and Quantize do it on demand).
func (s *Solver) Factorize() error {
	p, err := s.exclusive("surgeon_solver_factorize")
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	return check(raw.Surgeon_solver_factorize(p))
}

// Damping is the damping actually added to the diagonal (after escalation).
func (s *Solver) Damping() (float64, error) {
	p, err := s.exclusive("surgeon_solver_damping")
	if err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	d := make([]float64, 1)
	err = check(raw.Surgeon_solver_damping(p, d))
	return d[0], err
}

// Prune runs SparseGPT on w (rows × cols, cols = the Hessian's), updated in place. On
// error w is unchanged.
func (s *Solver) Prune(w []float32, rows, cols int, opts PruneOptions) (PruneResult, error) {
	return s.prune("surgeon_solver_prune", w, rows, cols, opts, nil)
}

// prune runs surgeon_solver_prune, or its _mixed form (quantizer required) when rowBits
// is not nil.
func (s *Solver) prune(fn string, w []float32, rows, cols int, opts PruneOptions, rowBits []int32) (PruneResult, error) {
	if err := checkMatrix(fn, "w", len(w), rows, cols); err != nil {
		return PruneResult{}, err
	}
	if cols != s.cols {
		return PruneResult{}, fail(StatusShape, fn, "w has %d columns, the Hessian %d", cols, s.cols)
	}
	if rowBits != nil {
		if err := checkRowBits(fn, rowBits, rows); err != nil {
			return PruneResult{}, err
		}
		if opts.Quantizer == nil {
			return PruneResult{}, fail(StatusInvalidArgument, fn, "a quantizer is required")
		}
	}
	var qp raw.Handle
	if opts.Quantizer != nil {
		var err error
		if qp, err = opts.Quantizer.shared(fn); err != nil {
			return PruneResult{}, err
		}
		defer opts.Quantizer.mu.RUnlock()
	}
	mask, err := NewMask(0, 0)
	if err != nil {
		return PruneResult{}, err
	}
	result := PruneResult{Mask: mask}
	var qr raw.Handle
	if opts.Quantizer != nil {
		if result.Quant, err = newQResult(); err != nil {
			result.Close()
			return PruneResult{}, err
		}
		qr = raw.Handle(result.Quant.ptr)
	}
	loss := make([]float64, 1) // double* out-params are slices in package raw
	err = s.callShared(fn, func(p raw.Handle) error {
		scope := raw.Enum_SS_surgeon_mask_scope(opts.Scope)
		if rowBits == nil {
			return raw.Surgeon_solver_prune(p, w, int64(rows), int64(cols), 0, opts.Fraction, opts.N, opts.M,
				scope, qp, raw.Handle(mask.ptr), qr, loss)
		}
		return raw.Surgeon_solver_prune_mixed(p, w, int64(rows), int64(cols), 0, opts.Fraction, opts.N, opts.M,
			scope, qp, rowBits, raw.Handle(mask.ptr), qr, loss)
	})
	if err != nil {
		result.Close()
		return PruneResult{}, err
	}
	result.Loss = loss[0]
	mask.rows, mask.cols = rows, cols
	if result.Quant != nil {
		if err := result.Quant.loadShape(); err != nil {
			result.Close()
			return PruneResult{}, err
		}
	}
	return result, nil
}

// Quantize runs GPTQ on w (rows × cols), updated in place with the dequantized values.
// On error w is unchanged.
func (s *Solver) Quantize(w []float32, rows, cols int, q *Quantizer) (QuantizeResult, error) {
	return s.quantize("surgeon_solver_quantize", w, rows, cols, q, nil)
}

// quantize runs surgeon_solver_quantize, or its _mixed form when rowBits is not nil.
func (s *Solver) quantize(fn string, w []float32, rows, cols int, q *Quantizer, rowBits []int32) (QuantizeResult, error) {
	if err := checkMatrix(fn, "w", len(w), rows, cols); err != nil {
		return QuantizeResult{}, err
	}
	if cols != s.cols {
		return QuantizeResult{}, fail(StatusShape, fn, "w has %d columns, the Hessian %d", cols, s.cols)
	}
	if rowBits != nil {
		if err := checkRowBits(fn, rowBits, rows); err != nil {
			return QuantizeResult{}, err
		}
	}
	if q == nil {
		return QuantizeResult{}, fail(StatusInvalidArgument, fn, "quantizer is nil")
	}
	qp, err := q.shared(fn)
	if err != nil {
		return QuantizeResult{}, err
	}
	defer q.mu.RUnlock()
	out, err := newQResult()
	if err != nil {
		return QuantizeResult{}, err
	}
	loss := make([]float64, 1)
	err = s.callShared(fn, func(p raw.Handle) error {
		if rowBits == nil {
			return raw.Surgeon_solver_quantize(p, w, int64(rows), int64(cols), 0, qp, raw.Handle(out.ptr), loss)
		}
		return raw.Surgeon_solver_quantize_mixed(p, w, int64(rows), int64(cols), 0, qp, rowBits, raw.Handle(out.ptr), loss)
	})
	if err == nil {
		err = out.loadShape()
	}
	if err != nil {
		out.Close()
		return QuantizeResult{}, err
	}
	return QuantizeResult{Quant: out, Loss: loss[0]}, nil
}

// Close frees the solver. Idempotent; waits for calls in progress.
func (s *Solver) Close() error {
	s.close()
	return nil
}
