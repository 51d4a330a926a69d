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
// statistics. s (optional) lends its factorization for diag(H⁻¹), computed there on first
// use and shared with its later calls; without one, and with a Hessian weight > 0, a
// private factorization with percdamp 0.01 is made. weights nil: the defaults. A Hessian
// built with HessianFromMatrix has no first moments: the activation and variance signals
// are then left out (an error if no weighted signal remains).
func NewImportance(ctx *Context, h *Hessian, s *Solver, w []float32, rows, cols int, weights *ImportanceWeights) (*Importance, error) {
	const fn = "surgeon_importance_compute"
	if err := checkMatrix(fn, "w", len(w), rows, cols); err != nil {
		return nil, err
	}
	var wts []float64 // nil passes NULL: the defaults
	if weights != nil {
		wts = weights[:]
	}
	imp, err := create[Importance](&importanceKind, fn, ctx, func(c raw.Handle, in []raw.Handle, out *raw.Handle) error {
		return raw.Surgeon_importance_compute(out, c, in[0], in[1], w, int64(rows), int64(cols), 0, wts)
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

// AllocateQuantile ranks the rows by ascending importance and gives rank r <
// round(q_0·rows) the smallest option, and so on up the sorted options. quantiles:
// len(options) − 1 non-decreasing cut points in [0, 1] (avgBits is then ignored), or nil
// for the cut points whose average is avgBits (exact up to rounding of the cuts).
func (imp *Importance) AllocateQuantile(options []int32, quantiles []float64, avgBits float64) ([]int32, error) {
	const fn = "surgeon_allocate_quantile"
	if err := checkOptions(fn, options); err != nil {
		return nil, err
	}
	if quantiles != nil && len(quantiles) != len(options)-1 {
		return nil, fail(StatusShape, fn, "%d quantiles for %d options, expected %d",
			len(quantiles), len(options), len(options)-1)
	}
	out := make([]int32, imp.rows)
	return fill(out, imp.read(fn, func(p raw.Handle) error {
		return raw.Surgeon_allocate_quantile(p, options, len(options), quantiles, avgBits, out)
	}))
}

// AllocateBudget meets exactly AttainableAverage(rows, options, avgBits) bits on
// average, placing them by importance (row i at b bits costs score_i²·4^-b, solved
// exactly).
func (imp *Importance) AllocateBudget(options []int32, avgBits float64) ([]int32, error) {
	const fn = "surgeon_allocate_budget"
	if err := checkOptions(fn, options); err != nil {
		return nil, err
	}
	out := make([]int32, imp.rows)
	return fill(out, imp.read(fn, func(p raw.Handle) error {
		return raw.Surgeon_allocate_budget(p, options, len(options), avgBits, out)
	}))
}

// checkOptions checks what C cannot see: a non-empty list (the values are checked there).
func checkOptions(function string, options []int32) error {
	if len(options) == 0 {
		return fail(StatusInvalidArgument, function, "options is empty")
	}
	return nil
}

// AttainableAverage is the average a target yields: the largest Σ b_i <= avgBits·rows
// reachable with the options, divided by rows.
func AttainableAverage(rows int, options []int32, avgBits float64) (float64, error) {
	const fn = "surgeon_attainable_average"
	if err := checkOptions(fn, options); err != nil {
		return 0, err
	}
	out := make([]float64, 1)
	err := check(raw.Surgeon_attainable_average(int64(rows), options, len(options), avgBits, out))
	return out[0], err
}

// MixedRowErrors estimates the error of every row of w (rows × cols, cols = the
// solver's) at every option: rows × len(options) values, row-major, Σ_j (w_ij −
// q_b(w_ij))² / U_jj² with the quantizer's settings at b bits, weighted as GPTQ's loss
// weighs each column.
func MixedRowErrors(ctx *Context, s *Solver, w []float32, rows, cols int, q *Quantizer, options []int32) ([]float64, error) {
	const fn = "surgeon_mixed_row_errors"
	if err := checkMatrix(fn, "w", len(w), rows, cols); err != nil {
		return nil, err
	}
	if err := checkOptions(fn, options); err != nil {
		return nil, err
	}
	out := make([]float64, rows*len(options))
	return fill(out, ctx.using(fn, func(c raw.Handle, p []raw.Handle) error {
		return raw.Surgeon_mixed_row_errors(c, p[0], w, int64(rows), int64(cols), 0, p[1], options, len(options), out)
	}, ref(s), ref(q)))
}

// AllocateError minimises Σ errors[i][choice_i] (errors: rows × len(options), as
// MixedRowErrors gives) with exactly AttainableAverage(rows, options, avgBits) bits on
// average.
func AllocateError(errors []float64, rows int, options []int32, avgBits float64) ([]int32, error) {
	const fn = "surgeon_allocate_error"
	if err := checkOptions(fn, options); err != nil {
		return nil, err
	}
	if err := checkMatrix(fn, "errors", len(errors), rows, len(options)); err != nil {
		return nil, err
	}
	out := make([]int32, rows)
	return fill(out, check(raw.Surgeon_allocate_error(errors, int64(rows), options, len(options), avgBits, out)))
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
		if err := checkOptions(fn, l.Options); err != nil {
			return nil, err
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
	err := using(fn, false, func(p []raw.Handle) error {
		c := raw.NewSurgeon_mixed_stats()
		defer raw.DeleteSurgeon_mixed_stats(c)
		if err := check(raw.Surgeon_mixed_stats_compute(bits, int64(len(bits)), int64(cols), int64(groupSize),
			o.ScaleBits, o.ZeroBits, p[0], c)); err != nil {
			return err
		}
		stats = MixedStats{Channels: c.GetChannels(), Weights: c.GetWeights(), Grids: c.GetGrids(),
			AvgBits: c.GetAvg_bits(), AvgBitsWithOverhead: c.GetAvg_bits_with_overhead(),
			HasImportance: c.GetHas_importance() != 0, ImportanceMin: c.GetImportance_min(),
			ImportanceMax: c.GetImportance_max(), ImportanceMean: c.GetImportance_mean()}
		copyHistogram(&stats.Histogram, c.GetHistogram())
		return nil
	}, ref(imp))
	if err != nil {
		return MixedStats{}, err
	}
	return stats, nil
}

// MixedStatsJSON is ComputeMixedStats as the library's JSON object.
func MixedStatsJSON(bits []int32, cols, groupSize int, o Overhead, imp *Importance) (string, error) {
	const fn = "surgeon_mixed_stats_json"
	if len(bits) == 0 {
		return "", fail(StatusShape, fn, "bits is empty")
	}
	var text []byte
	err := using(fn, false, func(p []raw.Handle) error {
		var err error
		text, err = sized(1, func(buf []byte, needed *int64) error {
			return raw.Surgeon_mixed_stats_json(bits, int64(len(bits)), int64(cols), int64(groupSize),
				o.ScaleBits, o.ZeroBits, p[0], buf, int64(len(buf)), needed)
		})
		return err
	}, ref(imp))
	return string(text), err
}

// copyHistogram copies the C struct's int64_t[9]: SWIG hands out a pointer into the
// struct (C memory, alive until DeleteSurgeon_mixed_stats).
func copyHistogram(dst *[9]int64, src *int64) {
	copy(dst[:], unsafe.Slice(src, len(dst)))
}
