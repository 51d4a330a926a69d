package surgeon

import "surgeon.dev/surgeon/raw"

// Quantizer is a quantization grid configuration (surgeon_quantizer): bits, symmetric or
// not, group size, MSE clipping search, act-order and static groups (GPTQ). Calls that
// use it may run concurrently; the setters are serialized against them.
type Quantizer struct {
	handle
}

var quantizerKind = kind{"Quantizer", func(p raw.Handle) { raw.Surgeon_quantizer_free(p) }}

// NewQuantizer creates a bits-bit quantizer (bits in [2, 8]): symmetric, per output
// channel, min/max range, natural column order until set otherwise.
func NewQuantizer(bits int) (*Quantizer, error) {
	return create[Quantizer](&quantizerKind, "surgeon_quantizer_new", nil, func(_ raw.Handle, _ []raw.Handle, out *raw.Handle) error {
		return raw.Surgeon_quantizer_new(out, bits)
	})
}

// MSESearch shrinks the range by 1 - i/Grid for i < MaxShrink·Grid and keeps the grid
// with least Σ|w - q(w)|^Norm.
type MSESearch struct {
	Norm      float32
	Grid      int
	MaxShrink float32
}

// DefaultMSESearch is the reference search: norm 2.4, grid 100, max shrink 0.8.
var DefaultMSESearch = MSESearch{Norm: 2.4, Grid: 100, MaxShrink: 0.8}

func flag(on bool) int {
	if on {
		return 1
	}
	return 0
}

// SetBits sets the width (2..8).
func (q *Quantizer) SetBits(bits int) error {
	return set(&q.handle, "surgeon_quantizer_set_bits", raw.Surgeon_quantizer_set_bits, bits)
}

// SetSymmetric chooses a symmetric grid (true, the default) or a min/max grid with its
// own zero point.
func (q *Quantizer) SetSymmetric(on bool) error {
	return set(&q.handle, "surgeon_quantizer_set_symmetric", raw.Surgeon_quantizer_set_symmetric, flag(on))
}

// SetGroupSize uses one grid per row and per n columns (0: one grid per row).
func (q *Quantizer) SetGroupSize(n int) error {
	return set(&q.handle, "surgeon_quantizer_set_group_size", raw.Surgeon_quantizer_set_group_size, int64(n))
}

// SetMSE enables the MSE clipping search (nil disables it).
func (q *Quantizer) SetMSE(search *MSESearch) error {
	s := DefaultMSESearch
	if search != nil {
		s = *search
	}
	return q.write("surgeon_quantizer_set_mse", func(p raw.Handle) error {
		return raw.Surgeon_quantizer_set_mse(p, flag(search != nil), s.Norm, s.Grid, s.MaxShrink)
	})
}

// SetActOrder processes columns by descending Hessian diagonal (GPTQ only).
func (q *Quantizer) SetActOrder(on bool) error {
	return set(&q.handle, "surgeon_quantizer_set_act_order", raw.Surgeon_quantizer_set_act_order, flag(on))
}

// SetStaticGroups fixes every group's grid on the dense weight up front (GPTQ with
// groups).
func (q *Quantizer) SetStaticGroups(on bool) error {
	return set(&q.handle, "surgeon_quantizer_set_static_groups", raw.Surgeon_quantizer_set_static_groups, flag(on))
}

// Bits is the bit width. It panics when q is closed.
func (q *Quantizer) Bits() int {
	return int(get(&q.handle, "surgeon_quantizer_get_bits", raw.Surgeon_quantizer_get_bits))
}

// GroupSize is the number of columns per grid (0: one grid per row). It panics when q is
// closed.
func (q *Quantizer) GroupSize() int {
	return int(get(&q.handle, "surgeon_quantizer_get_group_size", raw.Surgeon_quantizer_get_group_size))
}

// SetRowBits gives row r of the weights quantized with q the width bits[r] (1..8) in
// place of Bits, groups still applying (copied; nil clears). A solver call with q then
// needs len(bits) rows.
func (q *Quantizer) SetRowBits(bits []int32) error {
	return q.write("surgeon_quantizer_set_row_bits", func(p raw.Handle) error {
		return raw.Surgeon_quantizer_set_row_bits(p, bits, int64(len(bits)))
	})
}

// RowBits returns the per-row widths set (nil when none).
func (q *Quantizer) RowBits() ([]int32, error) {
	bits, err := readSized(&q.handle, "surgeon_quantizer_get_row_bits", raw.Surgeon_quantizer_get_row_bits)
	if len(bits) == 0 {
		bits = nil
	}
	return bits, err
}
