package surgeon

import "surgeon.dev/surgeon/raw"

// Quantizer is a quantization grid configuration: bits, symmetric or not, group size,
// MSE clipping search, act-order and static groups (GPTQ). Its settings are fixed at
// creation, so it may be used by any number of concurrent calls.
type Quantizer struct {
	handle
	bits      int
	groupSize int
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

// QuantizerOption configures NewQuantizer.
type QuantizerOption func(raw.Handle) error

// Asymmetric uses a min/max grid with its own zero point instead of a symmetric one.
func Asymmetric() QuantizerOption {
	return func(q raw.Handle) error { return check(raw.Surgeon_quantizer_set_symmetric(q, 0)) }
}

// GroupSize uses one grid per row and per n columns (0: one grid per row).
func GroupSize(n int) QuantizerOption {
	return func(q raw.Handle) error { return check(raw.Surgeon_quantizer_set_group_size(q, int64(n))) }
}

// WithMSE enables the MSE clipping search.
func WithMSE(search MSESearch) QuantizerOption {
	return func(q raw.Handle) error {
		return check(raw.Surgeon_quantizer_set_mse(q, 1, search.Norm, search.Grid, search.MaxShrink))
	}
}

// ActOrder processes columns by descending Hessian diagonal (GPTQ only).
func ActOrder() QuantizerOption {
	return func(q raw.Handle) error { return check(raw.Surgeon_quantizer_set_act_order(q, 1)) }
}

// StaticGroups fixes every group's grid on the dense weight up front (GPTQ with groups).
func StaticGroups() QuantizerOption {
	return func(q raw.Handle) error { return check(raw.Surgeon_quantizer_set_static_groups(q, 1)) }
}

// NewQuantizer creates a bits-bit quantizer (bits in [2, 8]): symmetric, per output
// channel, min/max range, natural column order unless options say otherwise.
func NewQuantizer(bits int, opts ...QuantizerOption) (*Quantizer, error) {
	var ptr raw.Handle
	if err := check(raw.Surgeon_quantizer_new(&ptr, bits)); err != nil {
		return nil, err
	}
	q := &Quantizer{}
	q.init("Quantizer", ptr, func(p raw.Handle) { raw.Surgeon_quantizer_free(p) }, nil)
	setFinalizer(q)
	for _, opt := range opts {
		if err := opt(ptr); err != nil {
			q.close()
			return nil, err
		}
	}
	var groupSize int64
	var b int32
	if err := check(raw.Surgeon_quantizer_get_bits(ptr, &b)); err != nil {
		q.close()
		return nil, err
	}
	if err := check(raw.Surgeon_quantizer_get_group_size(ptr, &groupSize)); err != nil {
		q.close()
		return nil, err
	}
	q.bits, q.groupSize = int(b), int(groupSize)
	return q, nil
}

// Bits is the bit width.
func (q *Quantizer) Bits() int { return q.bits }

// GroupSize is the number of columns per grid (0: one grid per row).
func (q *Quantizer) GroupSize() int { return q.groupSize }

// Close frees the quantizer. Idempotent.
func (q *Quantizer) Close() error {
	q.close()
	return nil
}
