package surgeon

import "surgeon.dev/surgeon/raw"

// Mask is a rows × cols keep (1) / prune (0) pattern.
type Mask struct {
	handle
	rows, cols int
}

var maskKind = kind{"Mask", func(p raw.Handle) { raw.Surgeon_mask_free(p) }}

// newMask makes an empty mask, lets fill write a rows × cols pattern into it and returns
// it; nil and the error when either fails.
func newMask(rows, cols int, fill func(*handle) error) (*Mask, error) {
	m, err := output[Mask](&maskKind, "surgeon_mask_new", func(out *raw.Handle) error {
		return raw.Surgeon_mask_new(out, 0, 0)
	}, fill)
	if m != nil {
		m.rows, m.cols = rows, cols
	}
	return m, err
}

// NewMask creates a mask that keeps everything.
func NewMask(rows, cols int) (*Mask, error) {
	return maskFrom("surgeon_mask_new", rows, cols, func(out *raw.Handle) error {
		return raw.Surgeon_mask_new(out, int64(rows), int64(cols))
	})
}

// MaskFromBytes creates a mask from rows × cols bytes (non-zero = keep).
func MaskFromBytes(keep []byte, rows, cols int) (*Mask, error) {
	const fn = "surgeon_mask_from_bytes"
	if err := checkMatrix(fn, "keep", len(keep), rows, cols); err != nil {
		return nil, err
	}
	return maskFrom(fn, rows, cols, func(out *raw.Handle) error {
		return raw.Surgeon_mask_from_bytes(out, keep, int64(rows), int64(cols))
	})
}

func maskFrom(fn string, rows, cols int, make func(out *raw.Handle) error) (*Mask, error) {
	m, err := create[Mask](&maskKind, fn, nil, func(_ raw.Handle, _ []raw.Handle, out *raw.Handle) error {
		return make(out)
	})
	if m != nil {
		m.rows, m.cols = rows, cols
	}
	return m, err
}

// Shape is (rows, cols).
func (m *Mask) Shape() (rows, cols int) { return m.rows, m.cols }

// Sparsity is the fraction of pruned entries. It panics when m is closed.
func (m *Mask) Sparsity() float64 {
	return getFloat(&m.handle, "surgeon_mask_sparsity", raw.Surgeon_mask_sparsity)
}

// CheckNM reports whether every row has at least n pruned entries in each group of m
// columns.
func (m *Mask) CheckNM(n, mGroup int) (bool, error) {
	var ok int32
	err := m.read("surgeon_mask_check_nm", func(p raw.Handle) error { return raw.Surgeon_mask_check_nm(p, n, mGroup, &ok) })
	return ok != 0, err
}

// Bytes returns rows × cols bytes (1 keep, 0 prune).
func (m *Mask) Bytes() ([]byte, error) {
	return readInto(&m.handle, "surgeon_mask_to_bytes", raw.Surgeon_mask_to_bytes, m.rows*m.cols)
}

// Bits returns the packed mask: element k (row-major) is bit k%8 of byte k/8, 1 = keep.
func (m *Mask) Bits() ([]byte, error) {
	return readInto(&m.handle, "surgeon_mask_to_bits", raw.Surgeon_mask_to_bits, (m.rows*m.cols+7)/8)
}

// Apply zeroes the pruned entries of w (rows × cols, row-major) in place.
func (m *Mask) Apply(w []float32) error {
	const fn = "surgeon_mask_apply"
	if err := checkMatrix(fn, "w", len(w), m.rows, m.cols); err != nil {
		return err
	}
	return m.read(fn, func(p raw.Handle) error { return raw.Surgeon_mask_apply(p, w, int64(m.rows), int64(m.cols), 0) })
}
