package surgeon

import (
	"strings"
	"unsafe"

	"surgeon.dev/surgeon/raw"
)

// Hessian accumulates H = 2/n · Σ xᵀx over n calibration rows (tokens) of a layer's
// inputs. Add and the read-only methods may run concurrently from several goroutines;
// Merge, Close and the other calls that modify it are serialized by the binding.
type Hessian struct {
	handle
	cols int
}

func newHessian(ptr raw.Handle, ctx *settings, cols int) *Hessian {
	h := &Hessian{cols: cols}
	h.init("Hessian", ptr, func(p raw.Handle) { raw.Surgeon_hessian_free(p) }, ctx)
	setFinalizer(h)
	return h
}

// NewHessian creates an empty accumulator for a layer with cols input features.
func NewHessian(ctx *Context, cols int) (*Hessian, error) {
	const fn = "surgeon_hessian_new"
	s, err := ctx.acquire(fn)
	if err != nil {
		return nil, err
	}
	var ptr raw.Handle
	if err := check(raw.Surgeon_hessian_new(&ptr, s.raw(), int64(cols))); err != nil {
		s.release()
		return nil, err
	}
	return newHessian(ptr, s, cols), nil
}

// HessianFromMatrix builds an accumulator from a finished cols × cols Hessian computed
// from samples rows.
func HessianFromMatrix(ctx *Context, matrix []float32, cols int, samples int64) (*Hessian, error) {
	const fn = "surgeon_hessian_from_matrix"
	if err := checkMatrix(fn, "hessian", len(matrix), cols, cols); err != nil {
		return nil, err
	}
	s, err := ctx.acquire(fn)
	if err != nil {
		return nil, err
	}
	var ptr raw.Handle
	if err := check(raw.Surgeon_hessian_from_matrix(&ptr, s.raw(), matrix, int64(cols), 0, samples)); err != nil {
		s.release()
		return nil, err
	}
	return newHessian(ptr, s, cols), nil
}

// LoadHessian reads an accumulator written by Save.
func LoadHessian(ctx *Context, path string) (*Hessian, error) {
	const fn = "surgeon_hessian_load"
	if err := checkPath(fn, path); err != nil {
		return nil, err
	}
	s, err := ctx.acquire(fn)
	if err != nil {
		return nil, err
	}
	var ptr raw.Handle
	if err := check(raw.Surgeon_hessian_load(&ptr, s.raw(), path)); err != nil {
		s.release()
		return nil, err
	}
	var cols int64
	if err := check(raw.Surgeon_hessian_cols(ptr, &cols)); err != nil {
		raw.Surgeon_hessian_free(ptr)
		s.release()
		return nil, err
	}
	return newHessian(ptr, s, int(cols)), nil
}

func checkPath(function, path string) error {
	if strings.IndexByte(path, 0) >= 0 {
		return fail(StatusInvalidArgument, function, "path %q contains a NUL byte", path)
	}
	return nil
}

// Cols is the number of input features.
func (h *Hessian) Cols() int { return h.cols }

// Add accumulates rows calibration rows x (rows × Cols(), row-major). The slice is passed
// to C without a copy. A NaN or Inf leaves the accumulator unchanged and is an error.
// Safe to call concurrently on one Hessian.
func (h *Hessian) Add(x []float32, rows int) error {
	const fn = "surgeon_hessian_add_f32"
	if err := checkMatrix(fn, "x", len(x), rows, h.cols); err != nil {
		return err
	}
	p, err := h.shared(fn)
	if err != nil {
		return err
	}
	defer h.mu.RUnlock()
	return check(raw.Surgeon_hessian_add_f32(p, x, int64(rows), int64(h.cols), 0))
}

// AddF16 is Add for IEEE half-precision bit patterns.
func (h *Hessian) AddF16(x []uint16, rows int) error {
	return h.addHalf("surgeon_hessian_add_f16", raw.Surgeon_hessian_add_f16, x, rows)
}

// AddBF16 is Add for bfloat16 bit patterns.
func (h *Hessian) AddBF16(x []uint16, rows int) error {
	return h.addHalf("surgeon_hessian_add_bf16", raw.Surgeon_hessian_add_bf16, x, rows)
}

func (h *Hessian) addHalf(fn string, add func(raw.Struct_SS_surgeon_hessian, []uint16, int64, int64, int64) error,
	x []uint16, rows int) error {
	if err := checkMatrix(fn, "x", len(x), rows, h.cols); err != nil {
		return err
	}
	p, err := h.shared(fn)
	if err != nil {
		return err
	}
	defer h.mu.RUnlock()
	return check(add(p, x, int64(rows), int64(h.cols), 0))
}

// Merge adds src's rows to h: afterwards h equals one accumulator fed both streams.
func (h *Hessian) Merge(src *Hessian) error {
	const fn = "surgeon_hessian_merge"
	if src == nil {
		return fail(StatusInvalidArgument, fn, "src is nil")
	}
	if src == h {
		return fail(StatusInvalidArgument, fn, "dst and src are the same accumulator")
	}
	// Both locks, always in address order: two opposite merges at once cannot deadlock.
	var dst, s raw.Handle
	var err error
	if uintptr(unsafe.Pointer(h)) < uintptr(unsafe.Pointer(src)) {
		if dst, err = h.exclusive(fn); err != nil {
			return err
		}
		defer h.mu.Unlock()
		if s, err = src.shared(fn); err != nil {
			return err
		}
		defer src.mu.RUnlock()
	} else {
		if s, err = src.shared(fn); err != nil {
			return err
		}
		defer src.mu.RUnlock()
		if dst, err = h.exclusive(fn); err != nil {
			return err
		}
		defer h.mu.Unlock()
	}
	return check(raw.Surgeon_hessian_merge(dst, s))
}

// Samples is the number of rows accumulated.
func (h *Hessian) Samples() (int64, error) {
	const fn = "surgeon_hessian_samples"
	p, err := h.shared(fn)
	if err != nil {
		return 0, err
	}
	defer h.mu.RUnlock()
	var n int64
	err = check(raw.Surgeon_hessian_samples(p, &n))
	return n, err
}

// Matrix returns a copy of H (Cols() × Cols(), row-major; zero with no samples).
func (h *Hessian) Matrix() ([]float32, error) {
	const fn = "surgeon_hessian_copy"
	p, err := h.shared(fn)
	if err != nil {
		return nil, err
	}
	defer h.mu.RUnlock()
	out := make([]float32, h.cols*h.cols)
	if err := check(raw.Surgeon_hessian_copy(p, out, 0)); err != nil {
		return nil, err
	}
	return out, nil
}

// Stats are per-column means over all rows added (Cols() values each).
type Stats struct {
	AbsMean, Mean, SqMean []float32
}

// Stats returns the per-column activation statistics.
func (h *Hessian) Stats() (Stats, error) {
	const fn = "surgeon_hessian_stats"
	p, err := h.shared(fn)
	if err != nil {
		return Stats{}, err
	}
	defer h.mu.RUnlock()
	s := Stats{make([]float32, h.cols), make([]float32, h.cols), make([]float32, h.cols)}
	if err := check(raw.Surgeon_hessian_stats(p, s.AbsMean, s.Mean, s.SqMean)); err != nil {
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
	p, err := h.shared(fn)
	if err != nil {
		return err
	}
	defer h.mu.RUnlock()
	return check(raw.Surgeon_hessian_save(p, path))
}

// Close frees the accumulator. Idempotent; waits for calls in progress.
func (h *Hessian) Close() error {
	h.close()
	return nil
}
