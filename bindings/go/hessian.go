package surgeon

import (
	"surgeon.dev/surgeon/raw"
)

// Hessian accumulates H = 2/n · Σ xᵀx over n calibration rows (tokens) of a layer's
// inputs. Add and the read-only methods may run concurrently from several goroutines;
// Merge, Close and the other calls that modify it are serialized by the binding.
type Hessian struct {
	handle
	cols int
}

var hessianKind = kind{"Hessian", func(p raw.Handle) { raw.Surgeon_hessian_free(p) }}

// newHessian runs a C constructor of an accumulator.
func newHessian(fn string, ctx *Context, make func(c raw.Handle, out *raw.Handle) error) (*Hessian, error) {
	return createSized[Hessian](&hessianKind, fn, ctx, make, "surgeon_hessian_cols", raw.Surgeon_hessian_cols,
		func(h *Hessian) *int { return &h.cols })
}

// NewHessian creates an empty accumulator for a layer with cols input features.
func NewHessian(ctx *Context, cols int) (*Hessian, error) {
	return newHessian("surgeon_hessian_new", ctx, func(c raw.Handle, out *raw.Handle) error {
		return raw.Surgeon_hessian_new(out, c, int64(cols))
	})
}

// HessianFromMatrix builds an accumulator from a finished cols × cols Hessian computed
// from samples rows.
func HessianFromMatrix(ctx *Context, matrix []float32, cols int, samples int64) (*Hessian, error) {
	const fn = "surgeon_hessian_from_matrix"
	if err := checkMatrix(fn, "hessian", len(matrix), cols, cols); err != nil {
		return nil, err
	}
	return newHessian(fn, ctx, func(c raw.Handle, out *raw.Handle) error {
		return raw.Surgeon_hessian_from_matrix(out, c, matrix, int64(cols), 0, samples)
	})
}

// LoadHessian reads an accumulator written by Save.
func LoadHessian(ctx *Context, path string) (*Hessian, error) {
	const fn = "surgeon_hessian_load"
	if err := checkPath(fn, path); err != nil {
		return nil, err
	}
	return newHessian(fn, ctx, func(c raw.Handle, out *raw.Handle) error {
		return raw.Surgeon_hessian_load(out, c, path)
	})
}

// Cols is the number of input features.
func (h *Hessian) Cols() int { return h.cols }

// Add accumulates rows calibration rows x (rows × Cols(), row-major). The slice is passed
// to C without a copy. A NaN or Inf leaves the accumulator unchanged and is an error.
// Safe to call concurrently on one Hessian.
func (h *Hessian) Add(x []float32, rows int) error {
	return addRows(h, "surgeon_hessian_add_f32", raw.Surgeon_hessian_add_f32, x, rows)
}

// AddF16 is Add for IEEE half-precision bit patterns.
func (h *Hessian) AddF16(x []uint16, rows int) error {
	return addRows(h, "surgeon_hessian_add_f16", raw.Surgeon_hessian_add_f16, x, rows)
}

// AddBF16 is Add for bfloat16 bit patterns.
func (h *Hessian) AddBF16(x []uint16, rows int) error {
	return addRows(h, "surgeon_hessian_add_bf16", raw.Surgeon_hessian_add_bf16, x, rows)
}

func addRows[T float32 | uint16](h *Hessian, fn string, add func(raw.Struct_SS_surgeon_hessian, []T, int64, int64, int64) error,
	x []T, rows int) error {
	if err := checkMatrix(fn, "x", len(x), rows, h.cols); err != nil {
		return err
	}
	return h.read(fn, func(p raw.Handle) error { return add(p, x, int64(rows), int64(h.cols), 0) })
}

// Merge adds src's rows to h: afterwards h equals one accumulator fed both streams.
func (h *Hessian) Merge(src *Hessian) error {
	const fn = "surgeon_hessian_merge"
	if src == h {
		return fail(StatusInvalidArgument, fn, "dst and src are the same accumulator")
	}
	return using(fn, true, func(p []raw.Handle) error { return raw.Surgeon_hessian_merge(p[0], p[1]) },
		&h.handle, ref(src))
}

// Samples is the number of rows accumulated. It panics when h is closed.
func (h *Hessian) Samples() int64 {
	return get(&h.handle, "surgeon_hessian_samples", raw.Surgeon_hessian_samples)
}

// Matrix returns a copy of H (Cols() × Cols(), row-major; zero with no samples).
func (h *Hessian) Matrix() ([]float32, error) {
	out := make([]float32, h.cols*h.cols)
	return fill(out, h.read("surgeon_hessian_copy", func(p raw.Handle) error { return raw.Surgeon_hessian_copy(p, out, 0) }))
}

// Stats are per-column means over all rows added (Cols() values each).
type Stats struct {
	AbsMean, Mean, SqMean []float32
}

// Stats returns the per-column activation statistics.
func (h *Hessian) Stats() (Stats, error) {
	s := Stats{make([]float32, h.cols), make([]float32, h.cols), make([]float32, h.cols)}
	err := h.read("surgeon_hessian_stats", func(p raw.Handle) error {
		return raw.Surgeon_hessian_stats(p, s.AbsMean, s.Mean, s.SqMean)
	})
	if err != nil {
		return Stats{}, err
	}
	return s, nil
}

// Save writes the accumulator to a versioned, checksummed file.
func (h *Hessian) Save(path string) error {
	const fn = "surgeon_hessian_save"
	if err := checkPath(fn, path); err != nil {
		return err
	}
	return h.read(fn, func(p raw.Handle) error { return raw.Surgeon_hessian_save(p, path) })
}

// RawState is an accumulator's raw state (surgeon_hessian_export_raw): what Merge adds,
// for hosts that reduce accumulators over their own transport. For c = Cols():
// SumXX holds the upper triangle of S = Σ xᵀx (not scaled by 2/n) row by row, S_ij
// (j >= i) at index i·c − i·(i−1)/2 + (j − i), c·(c+1)/2 values; ColumnSums holds Σ|x_j|
// for every column, then Σ x_j, then Σ x_j² (3·c values); Samples is the row count.
// Elementwise sums of states, rebuilt with HessianFromRaw, equal merging the
// accumulators in the same order, bit for bit.
type RawState struct {
	SumXX      []float32
	ColumnSums []float64
	Samples    int64
}

// ExportRaw returns a copy of the accumulator's raw state.
func (h *Hessian) ExportRaw() (RawState, error) {
	c := h.cols
	s := RawState{SumXX: make([]float32, c*(c+1)/2), ColumnSums: make([]float64, 3*c)}
	var samples int64 // not &s.Samples: cgo refuses a pointer into memory holding Go pointers
	err := h.read("surgeon_hessian_export_raw", func(p raw.Handle) error {
		return raw.Surgeon_hessian_export_raw(p, s.SumXX, s.ColumnSums, &samples)
	})
	if err != nil {
		return RawState{}, err
	}
	s.Samples = samples
	return s, nil
}

// HessianFromRaw builds an accumulator of cols input features holding a raw state (the
// C call checks its values: NaN/Inf, a negative diagonal or negative Σ|x| / Σx² are
// StatusNumeric).
func HessianFromRaw(ctx *Context, cols int, s RawState) (*Hessian, error) {
	const fn = "surgeon_hessian_import_raw"
	if cols < 1 {
		return nil, fail(StatusInvalidArgument, fn, "cols must be >= 1, got %d", cols)
	}
	if err := checkMatrix(fn, "SumXX", len(s.SumXX), 1, cols*(cols+1)/2); err != nil {
		return nil, err
	}
	if err := checkMatrix(fn, "ColumnSums", len(s.ColumnSums), 3, cols); err != nil {
		return nil, err
	}
	return newHessian(fn, ctx, func(c raw.Handle, out *raw.Handle) error {
		return raw.Surgeon_hessian_import_raw(out, c, int64(cols), s.SumXX, s.ColumnSums, s.Samples)
	})
}
