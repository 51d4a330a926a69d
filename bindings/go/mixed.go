package surgeon

import (
	"unsafe"

	"surgeon.dev/surgeon/raw"
)

// Signal is one of the per-row importance signals, each reduced to one score per row and
// divided by its mean over the rows:
//
//	SignalActivation  mean_j |W_ij|·E|x_j|      SignalHessian   mean_j W_ij² / [H⁻¹]_jj
//	SignalWeight      mean_j |W_ij|             SignalOutput    sqrt(Σ_j W_ij²·E[x_j²])
//	SignalVariance    sqrt(Σ_j W_ij²·Var[x_j])
type Signal int

const (
	SignalActivation Signal = 0
	SignalHessian    Signal = 1
	SignalWeight     Signal = 2
	SignalOutput     Signal = 3
	SignalVariance   Signal = 4
)

// SignalCount is the number of importance signals.
const SignalCount = 5

// ImportanceWeights weighs the signals (indexed by Signal): each >= 0, not all zero; a
// zero weight removes its signal.
type ImportanceWeights [SignalCount]float64

// DefaultImportanceWeights are the library's weights (0.25, 0.25, 0.15, 0.25, 0.10).
func DefaultImportanceWeights() (ImportanceWeights, error) {
	out := make([]float64, SignalCount)
	if err := check(raw.Surgeon_importance_default_weights(out)); err != nil {
		return ImportanceWeights{}, err
	}
	var w ImportanceWeights
	copy(w[:], out)
	return w, nil
}

// Importance is the per-row importance of one layer's weight: the combined score and the
// five normalised signals. Read-only once computed, so it may be used concurrently.
type Importance struct {
	handle
	rows int
}

var importanceKind = kind{"Importance", func(p raw.Handle) { raw.Surgeon_importance_free(p) }}

// NewImportance scores the rows of w (rows × cols, cols = h.Cols()) from h's activation
// statistics, with h's context. s (optional) lends its factorization for diag(H⁻¹), computed there on first
// use and shared with its later calls; without one, and with a Hessian weight > 0, a
// private factorization with percdamp 0.01 is made. weights nil: the defaults. A Hessian
// built with HessianFromMatrix has no first moments: the activation and variance signals
// are then left out (an error if no weighted signal remains).
func NewImportance(h *Hessian, s *Solver, w []float32, rows, cols int, weights *ImportanceWeights) (*Importance, error) {
	const fn = "surgeon_importance_compute"
	if err := checkMatrix(fn, "w", len(w), rows, cols); err != nil {
		return nil, err
	}
	var wts []float64 // nil passes NULL: the defaults
	if weights != nil {
		wts = weights[:]
	}
	imp, err := create[Importance](&importanceKind, fn, nil, func(_ raw.Handle, in []raw.Handle, out *raw.Handle) error {
		return raw.Surgeon_importance_compute(out, in[0], in[1], w, int64(rows), int64(cols), 0, wts)
	}, ref(h), ref(s))
	if err == nil {
		imp.rows = rows
	}
	return imp, err
}

// Rows is the number of rows scored.
func (imp *Importance) Rows() int { return imp.rows }

// Scores returns the combined score of every row.
func (imp *Importance) Scores() ([]float32, error) {
	return readInto(&imp.handle, "surgeon_importance_scores", raw.Surgeon_importance_scores, imp.rows)
}

// Signal returns one normalised signal per row and whether it had data (without data the
// values are 0).
func (imp *Importance) Signal(signal Signal) (values []float32, available bool, err error) {
	const fn = "surgeon_importance_signal_values"
	if signal < 0 || signal >= SignalCount {
		return nil, false, fail(StatusInvalidArgument, fn, "unknown signal %d", signal)
	}
	out := make([]float32, imp.rows)
	var avail int32
	err = imp.read(fn, func(p raw.Handle) error {
		return raw.Surgeon_importance_signal_values(p, raw.Enum_SS_surgeon_importance_signal(signal), out, &avail)
	})
	if err != nil {
		return nil, false, err
	}
	return out, avail != 0, nil
}

// MixedOptions are the bit options and target of an allocation (surgeon_mixed_options).
// Defaults: bit options {2, 3, 4}, average 3.0, no quantile cuts. Calls copy what they
// need: the options may be changed or closed afterwards.
type MixedOptions struct {
	handle
}

var mixedOptionsKind = kind{"MixedOptions", func(p raw.Handle) { raw.Surgeon_mixed_options_free(p) }}

// NewMixedOptions returns the defaults.
func NewMixedOptions() (*MixedOptions, error) {
	return newEmpty[MixedOptions](&mixedOptionsKind, "surgeon_mixed_options_new", raw.Surgeon_mixed_options_new)
}

// SetBits sets the bit options: 1 to 8 distinct widths in [1, 8], in the order per-option
// arrays (row errors) follow.
func (o *MixedOptions) SetBits(options []int32) error {
	return o.write("surgeon_mixed_options_set_bits", func(p raw.Handle) error {
		return raw.Surgeon_mixed_options_set_bits(p, options, len(options))
	})
}

// SetAverage sets the target mean width (finite, > 0).
func (o *MixedOptions) SetAverage(avgBits float64) error {
	return set(&o.handle, "surgeon_mixed_options_set_average", raw.Surgeon_mixed_options_set_average, avgBits)
}

// SetQuantiles sets len(bits) − 1 non-decreasing cut points in [0, 1] for
// AllocateQuantile (nil clears: the cuts whose average is the target).
func (o *MixedOptions) SetQuantiles(quantiles []float64) error {
	return o.write("surgeon_mixed_options_set_quantiles", func(p raw.Handle) error {
		return raw.Surgeon_mixed_options_set_quantiles(p, quantiles, len(quantiles))
	})
}

// Bits returns the bit options.
func (o *MixedOptions) Bits() ([]int32, error) {
	return readSized(&o.handle, "surgeon_mixed_options_get_bits", raw.Surgeon_mixed_options_get_bits)
}

// Average returns the target mean width. It panics when o is closed.
func (o *MixedOptions) Average() float64 {
	return getFloat(&o.handle, "surgeon_mixed_options_get_average", raw.Surgeon_mixed_options_get_average)
}

// withMixed runs call with the C pointers of opts (the defaults for nil) and hs, all
// read-locked, and the number of bit options: p[0] is the options, p[1:] hs.
func withMixed(fn string, opts *MixedOptions, call func(p []raw.Handle, options int) error, hs ...*handle) error {
	if opts == nil {
		defaults, err := NewMixedOptions()
		if err != nil {
			return err
		}
		defer defaults.Close()
		opts = defaults
	}
	return using(fn, false, func(p []raw.Handle) error {
		var n int64
		if err := check(raw.Surgeon_mixed_options_get_bits(p[0], nil, 0, &n)); err != nil {
			return err
		}
		return call(p, int(n))
	}, append([]*handle{&opts.handle}, hs...)...)
}

// AllocateQuantile ranks the rows by ascending importance and gives rank r <
// round(q_0·rows) the smallest option, and so on up the sorted options, with the cut
// points of opts (nil: the defaults), or without them those whose average is the target
// (exact up to rounding of the cuts).
func (imp *Importance) AllocateQuantile(opts *MixedOptions) ([]int32, error) {
	out := make([]int32, imp.rows)
	return fill(out, withMixed("surgeon_allocate_quantile", opts, func(p []raw.Handle, _ int) error {
		return raw.Surgeon_allocate_quantile(p[1], p[0], out)
	}, &imp.handle))
}

// AllocateBudget meets exactly AttainableAverage(Rows(), opts) bits on average, placing
// them by importance (row i at b bits costs score_i²·4^-b, solved exactly).
func (imp *Importance) AllocateBudget(opts *MixedOptions) ([]int32, error) {
	out := make([]int32, imp.rows)
	return fill(out, withMixed("surgeon_allocate_budget", opts, func(p []raw.Handle, _ int) error {
		return raw.Surgeon_allocate_budget(p[1], p[0], out)
	}, &imp.handle))
}

// AttainableAverage is the average the target of opts yields for rows rows: the largest
// Σ b_i <= average·rows reachable with the bit options, divided by rows.
func AttainableAverage(rows int, opts *MixedOptions) (float64, error) {
	return scalar(func(out []float64) error {
		return withMixed("surgeon_attainable_average", opts, func(p []raw.Handle, _ int) error {
			return raw.Surgeon_attainable_average(int64(rows), p[0], out)
		})
	})
}

// MixedRowErrors estimates the error of every row of w (rows × cols, cols = the
// solver's) at every bit option of opts: rows × options values, row-major, Σ_j (w_ij −
// q_b(w_ij))² / U_jj² with the quantizer's settings at b bits (its row widths ignored),
// weighted as GPTQ's loss weighs each column.
func MixedRowErrors(s *Solver, w []float32, rows, cols int, q *Quantizer, opts *MixedOptions) ([]float64, error) {
	const fn = "surgeon_mixed_row_errors"
	if err := checkMatrix(fn, "w", len(w), rows, cols); err != nil {
		return nil, err
	}
	var out []float64
	err := withMixed(fn, opts, func(p []raw.Handle, options int) error {
		out = make([]float64, rows*options)
		return raw.Surgeon_mixed_row_errors(p[1], w, int64(rows), int64(cols), 0, p[2], p[0], out)
	}, ref(s), ref(q))
	return fill(out, err)
}

// AllocateError minimises Σ errors[i][choice_i] (errors: rows × the bit options of
// opts, as MixedRowErrors gives) with exactly AttainableAverage(rows, opts) bits on
// average.
func AllocateError(errors []float64, rows int, opts *MixedOptions) ([]int32, error) {
	const fn = "surgeon_allocate_error"
	out := make([]int32, rows)
	return fill(out, withMixed(fn, opts, func(p []raw.Handle, options int) error {
		if err := checkMatrix(fn, "errors", len(errors), rows, options); err != nil {
			return err
		}
		return raw.Surgeon_allocate_error(errors, int64(rows), p[0], out)
	}))
}

// BudgetLayer is one layer of a model-wide budget (AllocateErrorGroups): the cost of each
// of its rows at each option (Rows × len(Options), row-major, comparable across layers,
// e.g. row errors times the loss sensitivity of each output channel) and how many values
// a row stores per bit (its columns).
type BudgetLayer struct {
	Costs   []float64
	Rows    int
	Weight  int
	Options []int32
}

// AllocateErrorGroups spends one budget over the rows of several layers: it minimises the
// summed cost subject to Σ bits × Weight <= budgetBits, leaving less than one step's
// storage unspent. Returns each layer's widths, in the order given.
func AllocateErrorGroups(layers []BudgetLayer, budgetBits int64) ([][]int32, error) {
	const fn = "surgeon_allocate_error_groups"
	if len(layers) == 0 {
		return nil, fail(StatusInvalidArgument, fn, "no layers")
	}
	var costs []float64
	var options, nOptions []int32
	rows := make([]int64, len(layers))
	weights := make([]int64, len(layers))
	total := 0
	for i, l := range layers {
		if len(l.Options) == 0 {
			return nil, fail(StatusInvalidArgument, fn, "layer %d has no options", i)
		}
		if err := checkMatrix(fn, "costs", len(l.Costs), l.Rows, len(l.Options)); err != nil {
			return nil, err
		}
		costs = append(costs, l.Costs...)
		options = append(options, l.Options...)
		nOptions = append(nOptions, int32(len(l.Options)))
		rows[i], weights[i] = int64(l.Rows), int64(l.Weight)
		total += l.Rows
	}
	bits := make([]int32, total)
	if err := check(raw.Surgeon_allocate_error_groups(costs, rows, weights, options, nOptions,
		int64(len(layers)), budgetBits, bits)); err != nil {
		return nil, err
	}
	out := make([][]int32, len(layers))
	for i, l := range layers {
		out[i], bits = bits[:l.Rows:l.Rows], bits[l.Rows:]
	}
	return out, nil
}

// Overhead is the storage of one grid (one per row and group): ScaleBits for the scale,
// ZeroBits for the zero point (-1: the row's own width, as GPTQ packs zeros; 0: implicit).
type Overhead struct {
	ScaleBits, ZeroBits int
}

// DefaultOverhead is a 16-bit scale and a zero point of the row's own width.
var DefaultOverhead = Overhead{ScaleBits: 16, ZeroBits: -1}

// MixedStats summarises an allocation of bits per row.
type MixedStats struct {
	Channels, Weights, Grids int64    // rows, rows·cols, rows·groups
	Histogram                [9]int64 // rows at 1..8 bits (index = bits; [0] = 0)
	AvgBits                  float64  // per weight, scales and zeros excluded
	AvgBitsWithOverhead      float64  // per weight, scales and zeros included
	HasImportance            bool     // the importance fields are set
	ImportanceMin            float64
	ImportanceMax            float64
	ImportanceMean           float64
}

// ComputeMixedStats summarises bits (one width in [1, 8] per row) for a layer with cols
// columns and groupSize columns per grid (0: one grid per row). imp (optional) must have
// len(bits) rows.
func ComputeMixedStats(bits []int32, cols, groupSize int, o Overhead, imp *Importance) (MixedStats, error) {
	const fn = "surgeon_mixed_stats_compute"
	if len(bits) == 0 {
		return MixedStats{}, fail(StatusShape, fn, "bits is empty")
	}
	var stats MixedStats
	err := withStats(func(c raw.Surgeon_mixed_stats) error {
		return using(fn, false, func(p []raw.Handle) error {
			if err := check(raw.Surgeon_mixed_stats_compute(bits, int64(len(bits)), int64(cols), int64(groupSize),
				o.ScaleBits, o.ZeroBits, p[0], c)); err != nil {
				return err
			}
			stats = MixedStats{Channels: c.GetChannels(), Weights: c.GetWeights(), Grids: c.GetGrids(),
				AvgBits: c.GetAvg_bits(), AvgBitsWithOverhead: c.GetAvg_bits_with_overhead(),
				HasImportance: c.GetHas_importance() != 0, ImportanceMin: c.GetImportance_min(),
				ImportanceMax: c.GetImportance_max(), ImportanceMean: c.GetImportance_mean()}
			// SWIG hands out a pointer into the struct (C memory, alive until it is freed).
			copy(stats.Histogram[:], unsafe.Slice(c.GetHistogram(), len(stats.Histogram)))
			return nil
		}, ref(imp))
	})
	if err != nil {
		return MixedStats{}, err
	}
	return stats, nil
}

// JSON is the library's JSON object of the statistics (surgeon_mixed_stats_json).
func (s MixedStats) JSON() (string, error) {
	var text string
	err := withStats(func(c raw.Surgeon_mixed_stats) (err error) {
		c.SetHas_importance(flag(s.HasImportance))
		c.SetChannels(s.Channels)
		c.SetWeights(s.Weights)
		c.SetGrids(s.Grids)
		c.SetHistogram(&s.Histogram[0])
		c.SetAvg_bits(s.AvgBits)
		c.SetAvg_bits_with_overhead(s.AvgBitsWithOverhead)
		c.SetImportance_min(s.ImportanceMin)
		c.SetImportance_max(s.ImportanceMax)
		c.SetImportance_mean(s.ImportanceMean)
		text, err = sizedText(func(buf []byte, cap int64, needed *int64) error {
			return raw.Surgeon_mixed_stats_json(c, buf, cap, needed)
		})
		return err
	})
	return text, err
}

// withStats runs call with a C surgeon_mixed_stats initialised for this header's version.
func withStats(call func(raw.Surgeon_mixed_stats) error) error {
	c := raw.NewSurgeon_mixed_stats()
	defer raw.DeleteSurgeon_mixed_stats(c)
	if err := check(raw.Surgeon_mixed_stats_init(c, uint(raw.SURGEON_MIXED_STATS_VERSION))); err != nil {
		return err
	}
	return call(c)
}
