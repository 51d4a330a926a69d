package surgeon

import "surgeon.dev/surgeon/raw"

// SingularValues returns the singular values of a (rows × cols, row-major), descending:
// min(rows, cols) values.
func SingularValues(a []float32, rows, cols int) ([]float32, error) {
	const fn = "surgeon_singular_values"
	if err := checkMatrix(fn, "a", len(a), rows, cols); err != nil {
		return nil, err
	}
	n := rows
	if cols < n {
		n = cols
	}
	out := make([]float32, n)
	return fill(out, check(raw.Surgeon_singular_values(a, int64(rows), int64(cols), 0, out)))
}

// KSDistance is the Kolmogorov-Smirnov distance sup |F_a − F_b| between the empirical
// distributions of the samples a and b (each non-empty), in [0, 1].
func KSDistance(a, b []float32) (float64, error) {
	const fn = "surgeon_ks_distance"
	if len(a) == 0 || len(b) == 0 {
		return 0, fail(StatusInvalidArgument, fn, "KS distance needs two non-empty samples, got %d and %d values",
			len(a), len(b))
	}
	out := make([]float64, 1)
	err := check(raw.Surgeon_ks_distance(a, int64(len(a)), b, int64(len(b)), out))
	return out[0], err
}

// SpectralDistance is the KS distance between the singular values of original (rows ×
// cols) and of pruned (prunedRows × prunedCols).
func SpectralDistance(original []float32, rows, cols int, pruned []float32, prunedRows, prunedCols int) (float64, error) {
	const fn = "surgeon_spectral_distance"
	if err := checkMatrix(fn, "original", len(original), rows, cols); err != nil {
		return 0, err
	}
	if err := checkMatrix(fn, "pruned", len(pruned), prunedRows, prunedCols); err != nil {
		return 0, err
	}
	out := make([]float64, 1)
	err := check(raw.Surgeon_spectral_distance(original, int64(rows), int64(cols), pruned, int64(prunedRows),
		int64(prunedCols), out))
	return out[0], err
}

// FFN is one feed-forward block of a Llama model, row-major: Gate and Up are Hidden × Dim,
// Down is Dim × Hidden. Removing neuron i drops row i of Gate and Up and column i of Down.
type FFN struct {
	Gate, Up, Down []float32
	Hidden, Dim    int
}

// check verifies the matrices' lengths; Down may be nil where downOptional.
func (f *FFN) check(function string, downOptional bool) error {
	if err := checkMatrix(function, "gate", len(f.Gate), f.Hidden, f.Dim); err != nil {
		return err
	}
	if err := checkMatrix(function, "up", len(f.Up), f.Hidden, f.Dim); err != nil {
		return err
	}
	if downOptional && f.Down == nil {
		return nil
	}
	return checkMatrix(function, "down", len(f.Down), f.Dim, f.Hidden)
}

// FFNMethod is a neuron score.
type FFNMethod int

const (
	// FFNL2 scores neuron i by ||[gate_i, up_i]||₂.
	FFNL2 FFNMethod = 0
	// FFNRandom gives seeded uniform scores (the random-neurons baseline).
	FFNRandom FFNMethod = 1
	// FFNPruneNet scores by a PruneNet policy's keep-probabilities (model-level pruning,
	// StructuredOptions; for one block, PruneNet.Scores).
	FFNPruneNet FFNMethod = 2
)

// FFNScores returns a baseline score per neuron (FFNL2 or FFNRandom; higher = keep). Down
// is not read and may be nil; the seed is used by FFNRandom only.
func FFNScores(method FFNMethod, f FFN, seed uint64) ([]float32, error) {
	const fn = "surgeon_ffn_scores"
	if err := f.check(fn, true); err != nil {
		return nil, err
	}
	out := make([]float32, f.Hidden)
	return fill(out, check(raw.Surgeon_ffn_scores(raw.Enum_SS_surgeon_ffn_method(method), f.Gate, f.Up, f.Down,
		int64(f.Hidden), int64(f.Dim), seed, out)))
}

// FFNSelect returns the neurons kept when removing round(ratio·len(scores)) of them (at
// least one kept): the highest scores, ties to the lower index, ascending. 0 <= ratio < 1.
// On a policy's Scores it is the policy's selection, at any ratio.
func FFNSelect(scores []float32, ratio float64) ([]int64, error) {
	const fn = "surgeon_ffn_select"
	if len(scores) == 0 {
		return nil, fail(StatusShape, fn, "scores is empty")
	}
	// At most every neuron is kept: one call with a buffer of that size.
	keep := make([]int64, len(scores))
	var n int64
	if err := check(raw.Surgeon_ffn_select(scores, int64(len(scores)), ratio, keep, int64(len(keep)), &n)); err != nil {
		return nil, err
	}
	return keep[:n:n], nil
}

// FFNSlice keeps only the neurons keep (ascending, unique, each < f.Hidden) of f, in
// place: afterwards f.Gate and f.Up hold len(keep) × Dim values, f.Down Dim × len(keep)
// (the slices are shortened) and f.Hidden = len(keep). On failure f is unchanged.
func FFNSlice(f *FFN, keep []int64) error {
	const fn = "surgeon_ffn_slice"
	if err := f.check(fn, false); err != nil {
		return err
	}
	if len(keep) == 0 || len(keep) > f.Hidden {
		return fail(StatusInvalidArgument, fn, "keep has %d neurons, must be in [1, %d]", len(keep), f.Hidden)
	}
	err := check(raw.Surgeon_ffn_slice(f.Gate, f.Up, f.Down, int64(f.Hidden), int64(f.Dim), keep, int64(len(keep))))
	if err != nil {
		return err
	}
	n := len(keep) * f.Dim
	f.Gate, f.Up, f.Down, f.Hidden = f.Gate[:n:n], f.Up[:n:n], f.Down[:n:n], len(keep)
	return nil
}

// PruneNetOptions configures PruneNet training (REINFORCE on the spectral KS reward).
type PruneNetOptions struct {
	Ratio        float64 // fraction of neurons removed during training, [0, 1)
	Steps        int     // optimisation steps, cycling over the blocks (>= 1)
	Samples      int     // selections sampled per step, their mean is the baseline (>= 2)
	LearningRate float64 // Adam step size (> 0)
	Features     int     // hidden units of the policy (>= 1)
	Seed         uint64  // initialisation and sampling: same seed, same policy
}

// DefaultPruneNetOptions: ratio 0.3, 150 steps, 8 samples, learning rate 0.05, 8
// features, seed 1 (SURGEON_PRUNENET_OPTIONS_INIT).
func DefaultPruneNetOptions() (PruneNetOptions, error) {
	var opts PruneNetOptions
	err := withOptions(nil, func(o raw.Surgeon_prunenet_options) error {
		opts = PruneNetOptions{Ratio: o.GetRatio(), Steps: o.GetSteps(), Samples: o.GetSamples(),
			LearningRate: o.GetLearning_rate(), Features: o.GetFeatures(), Seed: o.GetSeed()}
		return nil
	})
	return opts, err
}

// withOptions runs call with a C copy of opts, initialised for this header's version
// (nil: the library's defaults).
func withOptions(opts *PruneNetOptions, call func(raw.Surgeon_prunenet_options) error) error {
	o := raw.NewSurgeon_prunenet_options()
	defer raw.DeleteSurgeon_prunenet_options(o)
	if err := check(raw.Surgeon_prunenet_options_init(o, uint(raw.SURGEON_PRUNENET_OPTIONS_VERSION))); err != nil {
		return err
	}
	if opts != nil {
		o.SetRatio(opts.Ratio)
		o.SetSteps(opts.Steps)
		o.SetSamples(opts.Samples)
		o.SetLearning_rate(opts.LearningRate)
		o.SetFeatures(opts.Features)
		o.SetSeed(opts.Seed)
	}
	return call(o)
}

// PruneNet is a policy that scores FFN neurons from their weights alone, for one hidden
// size Dim (arXiv 2501.15296). Read-only once made: Scores, Select, Save may run
// concurrently.
type PruneNet struct {
	handle
	dim int
}

var pruneNetKind = kind{"PruneNet", func(p raw.Handle) { raw.Surgeon_prunenet_free(p) }}

func newPruneNet(fn string, ctx *Context, make func(c raw.Handle, out *raw.Handle) error) (*PruneNet, error) {
	return createSized[PruneNet](&pruneNetKind, fn, ctx, make, "surgeon_prunenet_dim", raw.Surgeon_prunenet_dim,
		func(p *PruneNet) *int { return &p.dim })
}

// NewPruneNet is an untrained (randomly initialised) policy for hidden size dim.
func NewPruneNet(dim, features int, seed uint64) (*PruneNet, error) {
	return newPruneNet("surgeon_prunenet_new", nil, func(_ raw.Handle, out *raw.Handle) error {
		return raw.Surgeon_prunenet_new(out, int64(dim), features, seed)
	})
}

// TrainPruneNetModel trains a policy on every block of the model at path (llama2.c .bin
// or Hugging Face directory). opts nil: the defaults.
func TrainPruneNetModel(ctx *Context, path string, opts *PruneNetOptions) (*PruneNet, error) {
	const fn = "surgeon_prunenet_train_model"
	if err := checkPath(fn, path); err != nil {
		return nil, err
	}
	return newPruneNet(fn, ctx, func(c raw.Handle, out *raw.Handle) error {
		return withOptions(opts, func(o raw.Surgeon_prunenet_options) error {
			return raw.Surgeon_prunenet_train_model(out, c, path, o)
		})
	})
}

// TrainPruneNet trains a policy on caller FFN blocks, all of one Dim (each with its own
// Hidden). The matrices are copied into C memory for the call. opts nil: the defaults.
func TrainPruneNet(ctx *Context, blocks []FFN, opts *PruneNetOptions) (*PruneNet, error) {
	const fn = "surgeon_prunenet_train_ffn"
	if len(blocks) == 0 {
		return nil, fail(StatusInvalidArgument, fn, "no blocks")
	}
	dim := blocks[0].Dim
	ffn := make([][]float32, 0, 3*len(blocks)) // gate, up, down of each block
	hidden := make([]int64, len(blocks))
	for b := range blocks {
		f := &blocks[b]
		if f.Dim != dim {
			return nil, fail(StatusShape, fn, "block %d has dim %d, block 0 has %d", b, f.Dim, dim)
		}
		if err := f.check(fn, false); err != nil {
			return nil, err
		}
		ffn = append(ffn, f.Gate, f.Up, f.Down)
		hidden[b] = int64(f.Hidden)
	}
	return newPruneNet(fn, ctx, func(c raw.Handle, out *raw.Handle) error {
		return withOptions(opts, func(o raw.Surgeon_prunenet_options) error {
			return raw.Surgeon_prunenet_train_ffn(out, c, int64(dim), int64(len(blocks)), ffn, hidden, o)
		})
	})
}

// LoadPruneNet reads a policy file written by Save (logged to ctx's log callback).
func LoadPruneNet(ctx *Context, path string) (*PruneNet, error) {
	const fn = "surgeon_prunenet_load"
	if err := checkPath(fn, path); err != nil {
		return nil, err
	}
	return newPruneNet(fn, ctx, func(c raw.Handle, out *raw.Handle) error { return raw.Surgeon_prunenet_load(out, c, path) })
}

// Dim is the hidden size the policy applies to.
func (p *PruneNet) Dim() int { return p.dim }

// Save writes the policy file (JSON), logged to ctx's log callback.
func (p *PruneNet) Save(ctx *Context, path string) error {
	const fn = "surgeon_prunenet_save"
	if err := checkPath(fn, path); err != nil {
		return err
	}
	return ctx.using(fn, func(c raw.Handle, h []raw.Handle) error { return raw.Surgeon_prunenet_save(c, h[0], path) }, &p.handle)
}

// Scores returns the keep-probability of each of f's neurons (f.Dim = Dim()).
func (p *PruneNet) Scores(f FFN) ([]float32, error) {
	const fn = "surgeon_prunenet_scores"
	if err := f.check(fn, false); err != nil {
		return nil, err
	}
	out := make([]float32, f.Hidden)
	return fill(out, p.read(fn, func(h raw.Handle) error {
		return raw.Surgeon_prunenet_scores(h, f.Gate, f.Up, f.Down, int64(f.Hidden), int64(f.Dim), out)
	}))
}
