package surgeon

import "surgeon.dev/surgeon/raw"

// Solver runs SparseGPT pruning and GPTQ quantization from one factorization of a layer's
// Hessian. Prune and Quantize may run concurrently on one Solver (the factorization is
// computed once, on first use).
type Solver struct {
	handle
	cols int
}

var solverKind = kind{"Solver", func(p raw.Handle) { raw.Surgeon_solver_free(p) }}

// SolverOptions configures NewSolver (surgeon_solver_options): the damping, as a fraction
// of mean(diag H) (default 0.01), and the number of columns processed per block (default
// 128).
type SolverOptions struct {
	damping   float64
	blockSize int
}

// NewSolverOptions returns the defaults.
func NewSolverOptions() (*SolverOptions, error) {
	return &SolverOptions{damping: 0.01, blockSize: 128}, nil
}

// SetDamping sets percdamp (>= 0).
func (o *SolverOptions) SetDamping(percdamp float64) error { o.damping = percdamp; return nil }

// SetBlockSize sets the columns per block (>= 1).
func (o *SolverOptions) SetBlockSize(n int) error { o.blockSize = n; return nil }

// Damping is the damping fraction set.
func (o *SolverOptions) Damping() (float64, error) { return o.damping, nil }

// BlockSize is the block size set.
func (o *SolverOptions) BlockSize() (int, error) { return o.blockSize, nil }

// Close releases the options. Idempotent.
func (o *SolverOptions) Close() error { return nil }

// NewSolver copies h (which may be closed afterwards). opts nil: the defaults.
func NewSolver(ctx *Context, h *Hessian, opts *SolverOptions) (*Solver, error) {
	if opts == nil {
		opts, _ = NewSolverOptions()
	}
	s, err := create[Solver](&solverKind, "surgeon_solver_new", ctx, func(c raw.Handle, in []raw.Handle, out *raw.Handle) error {
		return raw.Surgeon_solver_new(out, c, in[0], opts.damping, int64(opts.blockSize))
	}, ref(h))
	if err == nil {
		s.cols = h.cols
	}
	return s, err
}

// Factorize computes the factorization now (Prune and Quantize do it on demand).
func (s *Solver) Factorize() error {
	return s.write("surgeon_solver_factorize", func(p raw.Handle) error { return raw.Surgeon_solver_factorize(p) })
}

// Damping is the damping actually added to the diagonal (after escalation).
func (s *Solver) Damping() (float64, error) {
	return scalar(func(out []float64) error {
		return s.write("surgeon_solver_damping", func(p raw.Handle) error { return raw.Surgeon_solver_damping(p, out) })
	})
}

// MaskScope is how SparseGPT chooses the mask within a block of columns.
type MaskScope int

const (
	// ScopeBlock uses one threshold over each block of columns (all rows): the reference.
	ScopeBlock MaskScope = 0
	// ScopeRow gives every row of each block the same sparsity.
	ScopeRow MaskScope = 1
)

// PruneOptions configures Solver.Prune, PruneMagnitude and PruneWanda
// (surgeon_prune_options): a sparsity (default 0.5) or n:m, the mask scope, and a
// quantizer for joint pruning and quantization.
type PruneOptions struct {
	sparsity  float64
	n, m      int
	scope     MaskScope
	quantizer *Quantizer
}

// NewPruneOptions returns the defaults: sparsity 0.5, unstructured, block scope, no
// quantizer.
func NewPruneOptions() (*PruneOptions, error) { return &PruneOptions{sparsity: 0.5}, nil }

// SetSparsity removes the given fraction of the weights, in [0, 1) (and clears n:m).
func (o *PruneOptions) SetSparsity(fraction float64) error {
	o.sparsity, o.n, o.m = fraction, 0, 0
	return nil
}

// SetNM prunes n weights in every group of m columns of a row (2:4, 4:8, ...); 0, 0
// selects the sparsity.
func (o *PruneOptions) SetNM(n, m int) error {
	o.n, o.m = n, m
	return nil
}

// SetMaskScope sets how the mask is chosen within a block (Solver.Prune only).
func (o *PruneOptions) SetMaskScope(scope MaskScope) error {
	o.scope = scope
	return nil
}

// SetQuantizer quantizes jointly with pruning (nil clears); the result then carries a
// QuantResult.
func (o *PruneOptions) SetQuantizer(q *Quantizer) error {
	o.quantizer = q
	return nil
}

// Close releases the options. Idempotent.
func (o *PruneOptions) Close() error { return nil }

func (o *PruneOptions) orDefault() *PruneOptions {
	if o == nil {
		o, _ = NewPruneOptions()
	}
	return o
}

// PruneResult is what Prune produces besides the updated weight (surgeon_prune_result):
// the mask, the codes (nil without a quantizer) and the OBS loss Σ (w - q)² / (2 [U]jj²).
// Close releases the mask and the codes (also released by the garbage collector if
// forgotten).
type PruneResult struct {
	Mask        *Mask
	QuantResult *QuantResult
	Loss        float64
}

// Close frees the mask and the codes. Idempotent.
func (r *PruneResult) Close() error {
	if r != nil {
		closeAll(r.Mask, r.QuantResult)
	}
	return nil
}

// checkWeight checks w holds rows × cols values and cols is the solver's.
func (s *Solver) checkWeight(fn string, w []float32, rows, cols int) error {
	if err := checkMatrix(fn, "w", len(w), rows, cols); err != nil {
		return err
	}
	if cols != s.cols {
		return fail(StatusShape, fn, "w has %d columns, the Hessian %d", cols, s.cols)
	}
	return nil
}

// Prune runs SparseGPT on w (rows × cols, cols = the Hessian's), updated in place. opts
// nil: the defaults. On error w is unchanged.
func (s *Solver) Prune(w []float32, rows, cols int, opts *PruneOptions) (*PruneResult, error) {
	const fn = "surgeon_solver_prune"
	if err := s.checkWeight(fn, w, rows, cols); err != nil {
		return nil, err
	}
	o := opts.orDefault()
	result := &PruneResult{}
	loss := make([]float64, 1) // double* out-params are slices in package raw
	prune := func(mask, qr *handle) error {
		return using(fn, false, func(p []raw.Handle) error {
			rowBits, err := o.quantizer.mixedRows(fn, rows)
			scope := raw.Enum_SS_surgeon_mask_scope(o.scope)
			if err != nil || rowBits == nil {
				return firstError(err, func() error {
					return raw.Surgeon_solver_prune(p[0], w, int64(rows), int64(cols), 0, o.sparsity, o.n, o.m, scope,
						p[1], p[2], p[3], loss)
				})
			}
			return raw.Surgeon_solver_prune_mixed(p[0], w, int64(rows), int64(cols), 0, o.sparsity, o.n, o.m, scope,
				p[1], rowBits, p[2], p[3], loss)
		}, &s.handle, ref(o.quantizer), mask, qr)
	}
	var err error
	result.Mask, err = newMask(rows, cols, func(mask *handle) error {
		if o.quantizer == nil {
			return prune(mask, nil)
		}
		result.QuantResult, err = newQuantResult(func(qr *handle) error { return prune(mask, qr) })
		return err
	})
	if err != nil {
		result.Close()
		return nil, err
	}
	result.Loss = loss[0]
	return result, nil
}

// Quantize runs GPTQ on w (rows × cols), updated in place with the dequantized values;
// returns the codes and the OBS loss. On error w is unchanged.
func (s *Solver) Quantize(w []float32, rows, cols int, q *Quantizer) (*QuantResult, float64, error) {
	const fn = "surgeon_solver_quantize"
	if err := s.checkWeight(fn, w, rows, cols); err != nil {
		return nil, 0, err
	}
	loss := make([]float64, 1)
	out, err := newQuantResult(func(r *handle) error {
		return using(fn, false, func(p []raw.Handle) error {
			rowBits, err := q.mixedRows(fn, rows)
			if err != nil || rowBits == nil {
				return firstError(err, func() error {
					return raw.Surgeon_solver_quantize(p[0], w, int64(rows), int64(cols), 0, p[1], p[2], loss)
				})
			}
			return raw.Surgeon_solver_quantize_mixed(p[0], w, int64(rows), int64(cols), 0, p[1], rowBits, p[2], loss)
		}, &s.handle, ref(q), r)
	})
	return out, loss[0], err
}

// firstError is err, or when nil the error of call.
func firstError(err error, call func() error) error {
	if err != nil {
		return err
	}
	return call()
}
