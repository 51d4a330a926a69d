package surgeon

import "surgeon.dev/surgeon/raw"

// QResult is a quantized weight: w[r][j] = Scales[r][g]·(Codes[r][j] - Zeros[r][g]) with
// g = GIdx[j]; Perm[k] is the original column processed k-th (identity without
// act-order).
type QResult struct {
	handle
	shape QShape
}

// QShape is the size of a QResult: rows × cols codes, rows × groups scales and zeros.
type QShape struct {
	Rows, Cols, Groups, Bits int
}

func newQResult() (*QResult, error) {
	var ptr raw.Handle
	if err := check(raw.Surgeon_qresult_new(&ptr)); err != nil {
		return nil, err
	}
	r := &QResult{}
	r.init("QResult", ptr, func(p raw.Handle) { raw.Surgeon_qresult_free(p) }, nil)
	setFinalizer(r)
	return r, nil
}

// loadShape caches the shape once the C call that filled the result has returned.
func (r *QResult) loadShape() error {
	p, err := r.shared("surgeon_qresult_shape")
	if err != nil {
		return err
	}
	defer r.mu.RUnlock()
	var rows, cols, groups int64
	var bits int32
	if err := check(raw.Surgeon_qresult_shape(p, &rows, &cols, &groups, &bits)); err != nil {
		return err
	}
	r.shape = QShape{int(rows), int(cols), int(groups), int(bits)}
	return nil
}

// Shape is the result's size and bit width.
func (r *QResult) Shape() QShape { return r.shape }

// Codes returns rows × cols codes in the original column order.
func (r *QResult) Codes() ([]byte, error) {
	out := make([]byte, r.shape.Rows*r.shape.Cols)
	return fill(out, r.callShared("surgeon_qresult_codes", func(p raw.Handle) error { return raw.Surgeon_qresult_codes(p, out) }))
}

// Scales returns rows × groups scales.
func (r *QResult) Scales() ([]float32, error) {
	out := make([]float32, r.shape.Rows*r.shape.Groups)
	return fill(out, r.callShared("surgeon_qresult_scales", func(p raw.Handle) error { return raw.Surgeon_qresult_scales(p, out) }))
}

// Zeros returns rows × groups zero points.
func (r *QResult) Zeros() ([]float32, error) {
	out := make([]float32, r.shape.Rows*r.shape.Groups)
	return fill(out, r.callShared("surgeon_qresult_zeros", func(p raw.Handle) error { return raw.Surgeon_qresult_zeros(p, out) }))
}

// GIdx returns the group of each column (cols values).
func (r *QResult) GIdx() ([]int32, error) {
	out := make([]int32, r.shape.Cols)
	return fill(out, r.callShared("surgeon_qresult_g_idx", func(p raw.Handle) error { return raw.Surgeon_qresult_g_idx(p, out) }))
}

// Perm returns the column processing order (cols values).
func (r *QResult) Perm() ([]int32, error) {
	out := make([]int32, r.shape.Cols)
	return fill(out, r.callShared("surgeon_qresult_perm", func(p raw.Handle) error { return raw.Surgeon_qresult_perm(p, out) }))
}

// Dequantize reconstructs the float weight (rows × cols).
func (r *QResult) Dequantize() ([]float32, error) {
	out := make([]float32, r.shape.Rows*r.shape.Cols)
	return fill(out, r.callShared("surgeon_qresult_dequantize", func(p raw.Handle) error {
		return raw.Surgeon_qresult_dequantize(p, out, 0)
	}))
}

// fill returns out, or nil with the error.
func fill[T any](out []T, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Close frees the result. Idempotent.
func (r *QResult) Close() error {
	r.close()
	return nil
}
