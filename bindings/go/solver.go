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
	handle
}

var solverOptionsKind = kind{"SolverOptions", func(p raw.Handle) { raw.Surgeon_solver_options_free(p) }}

// NewSolverOptions returns the defaults.
func NewSolverOptions() (*SolverOptions, error) {
	return newEmpty[SolverOptions](&solverOptionsKind, "surgeon_solver_options_new", raw.Surgeon_solver_options_new)
}

// SetDamping sets percdamp (>= 0, finite): the damping is percdamp · mean(diag H), raised
// ×10 up to three times if the Cholesky factorization fails.
func (o *SolverOptions) SetDamping(percdamp float64) error {
	return set(&o.handle, "surgeon_solver_options_set_damping", raw.Surgeon_solver_options_set_damping, percdamp)
}

// SetBlockSize sets the columns per block (>= 1).
func (o *SolverOptions) SetBlockSize(n int) error {
	return set(&o.handle, "surgeon_solver_options_set_block_size", raw.Surgeon_solver_options_set_block_size, int64(n))
}

// Damping is the damping fraction set. It panics when o is closed.
func (o *SolverOptions) Damping() float64 {
	return getFloat(&o.handle, "surgeon_solver_options_get_damping", raw.Surgeon_solver_options_get_damping)
}

// BlockSize is the block size set. It panics when o is closed.
func (o *SolverOptions) BlockSize() int {
	return int(get(&o.handle, "surgeon_solver_options_get_block_size", raw.Surgeon_solver_options_get_block_size))
}

// NewSolver copies h (which may be closed afterwards) and opts (nil: the defaults); its
// calls use ctx's settings.
func NewSolver(ctx *Context, h *Hessian, opts *SolverOptions) (*Solver, error) {
	s, err := create[Solver](&solverKind, "surgeon_solver_new", ctx, func(c raw.Handle, in []raw.Handle, out *raw.Handle) error {
		return raw.Surgeon_solver_new(out, c, in[0], in[1])
	}, ref(h), ref(opts))
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
// quantizer for joint pruning and quantization. Calls copy what they need: the options
// may be changed or closed afterwards.
type PruneOptions struct {
	handle
}

var pruneOptionsKind = kind{"PruneOptions", func(p raw.Handle) { raw.Surgeon_prune_options_free(p) }}

// NewPruneOptions returns the defaults: sparsity 0.5, unstructured, block scope, no
// quantizer.
func NewPruneOptions() (*PruneOptions, error) {
	return newEmpty[PruneOptions](&pruneOptionsKind, "surgeon_prune_options_new", raw.Surgeon_prune_options_new)
}

// SetSparsity removes the given fraction of the weights, in [0, 1) (n:m, when set, takes
// precedence).
func (o *PruneOptions) SetSparsity(fraction float64) error {
	return set(&o.handle, "surgeon_prune_options_set_sparsity", raw.Surgeon_prune_options_set_sparsity, fraction)
}

// SetNM prunes n weights in every group of m columns of a row (2:4, 4:8, ...); 0, 0
// selects the sparsity.
func (o *PruneOptions) SetNM(n, m int) error {
	return o.write("surgeon_prune_options_set_nm", func(p raw.Handle) error { return raw.Surgeon_prune_options_set_nm(p, n, m) })
}

// SetMaskScope sets how the mask is chosen within a block (Solver.Prune only).
func (o *PruneOptions) SetMaskScope(scope MaskScope) error {
	return set(&o.handle, "surgeon_prune_options_set_mask_scope", raw.Surgeon_prune_options_set_mask_scope,
		raw.Enum_SS_surgeon_mask_scope(scope))
}

// SetQuantizer quantizes jointly with pruning, with a copy of q's settings and row widths
// (nil clears); Solver.Prune then returns a QuantResult.
func (o *PruneOptions) SetQuantizer(q *Quantizer) error {
	return setHandle(&o.handle, "surgeon_prune_options_set_quantizer", raw.Surgeon_prune_options_set_quantizer, ref(q))
}

// Sparsity is the fraction set. It panics when o is closed.
func (o *PruneOptions) Sparsity() float64 {
	return getFloat(&o.handle, "surgeon_prune_options_get_sparsity", raw.Surgeon_prune_options_get_sparsity)
}

// NM is the n:m pattern set (0, 0: none). It panics when o is closed.
func (o *PruneOptions) NM() (n, m int) {
	var cn, cm int32
	err := o.read("surgeon_prune_options_get_nm", func(p raw.Handle) error { return raw.Surgeon_prune_options_get_nm(p, &cn, &cm) })
	alive(0, err)
	return int(cn), int(cm)
}

// PruneResult is what Prune produces besides the updated weight, read from the C
// surgeon_prune_result: the mask, the codes (nil without a quantizer in the options) and
// the OBS loss Σ (w - q)² / (2 [U]jj²). Close releases the mask and the codes (also
// released by the garbage collector if forgotten).
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
	var c raw.Handle
	if err := check(raw.Surgeon_prune_result_new(&c)); err != nil {
		return nil, err
	}
	defer raw.Surgeon_prune_result_free(c)
	err := using(fn, false, func(p []raw.Handle) error {
		return raw.Surgeon_solver_prune(p[0], w, int64(rows), int64(cols), 0, p[1], c)
	}, &s.handle, ref(opts))
	if err != nil {
		return nil, err
	}
	// The mask and the codes are copies the caller owns.
	r := &PruneResult{}
	r.Loss, err = scalar(func(out []float64) error { return check(raw.Surgeon_prune_result_loss(c, out)) })
	if err == nil {
		r.Mask, err = maskFrom("surgeon_prune_result_mask", rows, cols, func(out *raw.Handle) error {
			return raw.Surgeon_prune_result_mask(c, out)
		})
	}
	if err == nil {
		r.QuantResult, err = withShape(create[QuantResult](&quantResultKind, "surgeon_prune_result_qresult", nil,
			func(_ raw.Handle, _ []raw.Handle, out *raw.Handle) error {
				return raw.Surgeon_prune_result_qresult(c, out)
			}))
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Quantize runs GPTQ on w (rows × cols), updated in place with the dequantized values,
// with q's grid (and its per-row widths when set); returns the codes and the OBS loss.
// On error w is unchanged.
func (s *Solver) Quantize(w []float32, rows, cols int, q *Quantizer) (*QuantResult, float64, error) {
	const fn = "surgeon_solver_quantize"
	if err := s.checkWeight(fn, w, rows, cols); err != nil {
		return nil, 0, err
	}
	loss := make([]float64, 1)
	out, err := newQuantResult(func(r *handle) error {
		return using(fn, false, func(p []raw.Handle) error {
			return raw.Surgeon_solver_quantize(p[0], w, int64(rows), int64(cols), 0, p[1], p[2], loss)
		}, &s.handle, ref(q), r)
	})
	return out, loss[0], err
}
