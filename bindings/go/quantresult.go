package surgeon

import "surgeon.dev/surgeon/raw"

// QuantResult is a quantized weight (surgeon_qresult): w[r][j] = Scales[r][g]·(Codes[r][j]
// - Zeros[r][g]) with g = GIdx[j]; Perm[k] is the original column processed k-th
// (identity without act-order).
type QuantResult struct {
	handle
	shape QuantShape
}

// QuantShape is the size of a QuantResult: rows × cols codes, rows × groups scales and
// zeros.
type QuantShape struct {
	Rows, Cols, Groups, Bits int
}

var quantResultKind = kind{"QuantResult", func(p raw.Handle) { raw.Surgeon_qresult_free(p) }}

// newQuantResult makes an empty result and lets fill write into it (see withShape).
func newQuantResult(fill func(*handle) error) (*QuantResult, error) {
	return withShape(output[QuantResult](&quantResultKind, "surgeon_qresult_new", func(out *raw.Handle) error {
		return raw.Surgeon_qresult_new(out)
	}, fill))
}

// withShape caches the shape of a result just made; nil stays nil, and on failure the
// result is closed.
func withShape(r *QuantResult, err error) (*QuantResult, error) {
	if r == nil || err != nil {
		return nil, err
	}
	var rows, cols, groups int64
	var bits int32
	err = r.read("surgeon_qresult_shape", func(p raw.Handle) error {
		return raw.Surgeon_qresult_shape(p, &rows, &cols, &groups, &bits)
	})
	if err != nil {
		r.Close()
		return nil, err
	}
	r.shape = QuantShape{int(rows), int(cols), int(groups), int(bits)}
	return r, nil
}

// Shape is the result's size and bit width.
func (r *QuantResult) Shape() QuantShape { return r.shape }

// Codes returns rows × cols codes in the original column order.
func (r *QuantResult) Codes() ([]byte, error) {
	return readInto(&r.handle, "surgeon_qresult_codes", raw.Surgeon_qresult_codes, r.shape.Rows*r.shape.Cols)
}

// Scales returns rows × groups scales.
func (r *QuantResult) Scales() ([]float32, error) {
	return readInto(&r.handle, "surgeon_qresult_scales", raw.Surgeon_qresult_scales, r.shape.Rows*r.shape.Groups)
}

// Zeros returns rows × groups zero points.
func (r *QuantResult) Zeros() ([]float32, error) {
	return readInto(&r.handle, "surgeon_qresult_zeros", raw.Surgeon_qresult_zeros, r.shape.Rows*r.shape.Groups)
}

// GIdx returns the group of each column (cols values).
func (r *QuantResult) GIdx() ([]int32, error) {
	return readInto(&r.handle, "surgeon_qresult_g_idx", raw.Surgeon_qresult_g_idx, r.shape.Cols)
}

// Perm returns the column processing order (cols values).
func (r *QuantResult) Perm() ([]int32, error) {
	return readInto(&r.handle, "surgeon_qresult_perm", raw.Surgeon_qresult_perm, r.shape.Cols)
}

// RowBits returns the width of every row: the per-row widths of a mixed result, else the
// uniform width repeated.
func (r *QuantResult) RowBits() ([]int32, error) {
	return readInto(&r.handle, "surgeon_qresult_row_bits", raw.Surgeon_qresult_row_bits, r.shape.Rows)
}

// Dequantize reconstructs the float weight (rows × cols).
func (r *QuantResult) Dequantize() ([]float32, error) {
	out := make([]float32, r.shape.Rows*r.shape.Cols)
	return fill(out, r.read("surgeon_qresult_dequantize", func(p raw.Handle) error {
		return raw.Surgeon_qresult_dequantize(p, out, 0)
	}))
}
