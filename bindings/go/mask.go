package surgeon

import "surgeon.dev/surgeon/raw"

// Mask is a rows × cols keep (1) / prune (0) pattern.
type Mask struct {
	handle
	rows, cols int
}

func newMask(ptr raw.Handle, rows, cols int) *Mask {
	m := &Mask{rows: rows, cols: cols}
	m.init("Mask", ptr, func(p raw.Handle) { raw.Surgeon_mask_free(p) }, nil)
	setFinalizer(m)
	return m
}

// NewMask creates a mask that keeps everything.
func NewMask(rows, cols int) (*Mask, error) {
	var ptr raw.Handle
	if err := check(raw.Surgeon_mask_new(&ptr, int64(rows), int64(cols))); err != nil {
		return nil, err
	}
	return newMask(ptr, rows, cols), nil
}

// MaskFromBytes creates a mask from rows × cols bytes (non-zero = keep).
func MaskFromBytes(keep []byte, rows, cols int) (*Mask, error) {
	const fn = "surgeon_mask_from_bytes"
	if err := checkMatrix(fn, "keep", len(keep), rows, cols); err != nil {
		return nil, err
	}
	var ptr raw.Handle
	if err := check(raw.Surgeon_mask_from_bytes(&ptr, keep, int64(rows), int64(cols))); err != nil {
		return nil, err
	}
	return newMask(ptr, rows, cols), nil
}

// Shape is (rows, cols).
func (m *Mask) Shape() (rows, cols int) { return m.rows, m.cols }

// Sparsity is the fraction of pruned entries.
func (m *Mask) Sparsity() (float64, error) {
	p, err := m.shared("surgeon_mask_sparsity")
	if err != nil {
		return 0, err
	}
	defer m.mu.RUnlock()
	s := make([]float64, 1)
	err = check(raw.Surgeon_mask_sparsity(p, s))
	return s[0], err
}

// CheckNM reports whether every row has at least n pruned entries in each group of m
// columns.
func (m *Mask) CheckNM(n, mGroup int) (bool, error) {
	p, err := m.shared("surgeon_mask_check_nm")
	if err != nil {
		return false, err
	}
	defer m.mu.RUnlock()
	var ok int32
	err = check(raw.Surgeon_mask_check_nm(p, n, mGroup, &ok))
	return ok != 0, err
}

// Bytes returns rows × cols bytes (1 keep, 0 prune).
func (m *Mask) Bytes() ([]byte, error) {
	p, err := m.shared("surgeon_mask_to_bytes")
	if err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	out := make([]byte, m.rows*m.cols)
	if err := check(raw.Surgeon_mask_to_bytes(p, out)); err != nil {
		return nil, err
	}
	return out, nil
}

// Bits returns the packed mask: element k (row-major) is bit k%8 of byte k/8, 1 = keep.
func (m *Mask) Bits() ([]byte, error) {
	p, err := m.shared("surgeon_mask_to_bits")
	if err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	out := make([]byte, (m.rows*m.cols+7)/8)
	if err := check(raw.Surgeon_mask_to_bits(p, out)); err != nil {
		return nil, err
	}
	return out, nil
}

// Apply zeroes the pruned entries of w (rows × cols, row-major) in place.
func (m *Mask) Apply(w []float32) error {
	const fn = "surgeon_mask_apply"
	if err := checkMatrix(fn, "w", len(w), m.rows, m.cols); err != nil {
		return err
	}
	p, err := m.shared(fn)
	if err != nil {
		return err
	}
	defer m.mu.RUnlock()
	return check(raw.Surgeon_mask_apply(p, w, int64(m.rows), int64(m.cols), 0))
}

// Close frees the mask. Idempotent.
func (m *Mask) Close() error {
	m.close()
	return nil
}
