package surgeon

import (
	"surgeon.dev/surgeon/raw"
)

// ModelConfig gives a model's dimensions.
type ModelConfig struct {
	Dim, HiddenDim, Layers, Heads, KVHeads, VocabSize, SeqLen, Parameters, HeadDim int64
}

// Perplexity of a model over Sequences sequences and Tokens predicted tokens.
type Perplexity struct {
	Sequences, Tokens int64
	NLL, PPL          float64
}

// EvalMode selects the evaluation protocol.
type EvalMode int

const (
	// Paragraphs scores each "\n\n" paragraph as [BOS] + tokens, truncated to the context.
	Paragraphs EvalMode = iota
	// Windows scores the whole text in non-overlapping context-sized windows, no BOS.
	Windows
)

// Model is a whole Llama-family model (llama2.c file or Hugging Face directory) with its
// tokenizer when one lies beside it. Reading methods may run concurrently; Compress,
// PruneStructured, SetLinear and Close are serialized by the binding.
type Model struct {
	handle
}

var modelKind = kind{"Model", func(p raw.Handle) { raw.Surgeon_model_free(p) }}

// LoadModel loads a llama2.c checkpoint file or a Hugging Face directory (what was loaded
// is logged to ctx's log callback).
func LoadModel(ctx *Context, path string) (*Model, error) {
	const fn = "surgeon_model_load"
	if err := checkPath(fn, path); err != nil {
		return nil, err
	}
	return create[Model](&modelKind, fn, ctx, func(c raw.Handle, _ []raw.Handle, out *raw.Handle) error {
		return raw.Surgeon_model_load(out, c, path)
	})
}

// Clone returns a deep copy of the model (weights and tokenizer, not the last report).
func (m *Model) Clone() (*Model, error) {
	return create[Model](&modelKind, "surgeon_model_clone", nil, func(_ raw.Handle, in []raw.Handle, out *raw.Handle) error {
		return raw.Surgeon_model_clone(out, in[0])
	}, &m.handle)
}

// SetTokenizer loads (or replaces) the tokenizer: a Hugging Face tokenizer.json (a path
// ending in .json) or a llama2.c tokenizer; its ids must fit the model's vocabulary. What
// was loaded is logged to ctx's log callback.
func (m *Model) SetTokenizer(ctx *Context, path string) error {
	const fn = "surgeon_model_set_tokenizer"
	if err := checkPath(fn, path); err != nil {
		return err
	}
	return m.update(fn, ctx, func(c raw.Handle, p []raw.Handle) error { return raw.Surgeon_model_set_tokenizer(c, p[0], path) })
}

// Config returns the model's dimensions. It panics when m is closed.
func (m *Model) Config() ModelConfig {
	c := raw.NewSurgeon_model_config()
	defer raw.DeleteSurgeon_model_config(c)
	err := m.read("surgeon_model_get_config", func(p raw.Handle) error {
		if err := check(raw.Surgeon_model_config_init(c, uint(raw.SURGEON_MODEL_CONFIG_VERSION))); err != nil {
			return err
		}
		return raw.Surgeon_model_get_config(p, c)
	})
	alive(0, err)
	return ModelConfig{c.GetDim(), c.GetHidden_dim(), c.GetN_layers(), c.GetN_heads(), c.GetN_kv_heads(),
		c.GetVocab_size(), c.GetSeq_len(), c.GetParameters(), c.GetHead_dim()}
}

// Encode returns the token ids of text, with BOS first when bos is set.
func (m *Model) Encode(text string, bos bool) ([]int32, error) {
	return readSized(&m.handle, "surgeon_model_encode", func(p raw.Handle, buf []int32, cap int64, needed *int64) error {
		return raw.Surgeon_model_encode(p, text, flag(bos), buf, cap, needed)
	})
}

// PerplexityOfText scores text, the text itself (PerplexityOfFile reads a file):
// paragraphs or windows [begin, end) of it (end < 0: to the last one), each sequence cut
// to seqLen tokens (0: the model's context). A begin past the last paragraph or window is
// an error naming both ("paragraphs 2000:2128 requested, the text has 1"), and so is a
// range with nothing to predict.
func (m *Model) PerplexityOfText(ctx *Context, text string, mode EvalMode, begin, end, seqLen int64) (Perplexity, error) {
	const fn = "surgeon_model_perplexity"
	if err := checkText(fn, "text", text); err != nil {
		return Perplexity{}, err
	}
	return m.perplexity(fn, ctx, func(c, p raw.Handle, out raw.Surgeon_perplexity) error {
		return raw.Surgeon_model_perplexity(c, p, text, raw.Enum_SS_surgeon_eval_mode(mode), begin, end, seqLen, out)
	})
}

// PerplexityOfFile is PerplexityOfText on the contents of the text file at path (an
// unreadable file or a directory is an ErrIO naming it).
func (m *Model) PerplexityOfFile(ctx *Context, path string, mode EvalMode, begin, end, seqLen int64) (Perplexity, error) {
	const fn = "surgeon_model_perplexity_file"
	if err := checkPath(fn, path); err != nil {
		return Perplexity{}, err
	}
	return m.perplexity(fn, ctx, func(c, p raw.Handle, out raw.Surgeon_perplexity) error {
		return raw.Surgeon_model_perplexity_file(c, p, path, raw.Enum_SS_surgeon_eval_mode(mode), begin, end, seqLen, out)
	})
}

// perplexity runs a perplexity call into a C surgeon_perplexity initialised for this
// header's version.
func (m *Model) perplexity(fn string, ctx *Context, call func(c, p raw.Handle, out raw.Surgeon_perplexity) error) (Perplexity, error) {
	out := raw.NewSurgeon_perplexity()
	defer raw.DeleteSurgeon_perplexity(out)
	err := ctx.using(fn, func(c raw.Handle, p []raw.Handle) error {
		if err := check(raw.Surgeon_perplexity_init(out, uint(raw.SURGEON_PERPLEXITY_VERSION))); err != nil {
			return err
		}
		return call(c, p[0], out)
	}, &m.handle)
	if err != nil {
		return Perplexity{}, err
	}
	return Perplexity{out.GetSequences(), out.GetTokens(), out.GetNll(), out.GetPpl()}, nil
}

// PerplexityOfTokens scores a token stream with the windows protocol: non-overlapping
// windows of seqLen tokens (0: the model's context), a last partial window dropped.
func (m *Model) PerplexityOfTokens(ctx *Context, tokens []int32, seqLen int64) (Perplexity, error) {
	return m.perplexity("surgeon_model_perplexity_tokens", ctx, func(c, p raw.Handle, out raw.Surgeon_perplexity) error {
		return raw.Surgeon_model_perplexity_tokens(c, p, tokens, int64(len(tokens)), seqLen, out)
	})
}

// Compress compresses every linear layer block by block (true-sequential), calibrating on
// the non-empty paragraphs [begin, end) of calib, as the JSON recipe says, e.g.
// {"default": {"method": "sparsegpt", "nm": "2:4"}}. The model is unchanged on failure.
// Report then gives the per-layer report.
func (m *Model) Compress(ctx *Context, calib string, begin, end int64, recipeJSON string) error {
	return m.update("surgeon_model_compress", ctx, func(c raw.Handle, p []raw.Handle) error {
		return raw.Surgeon_model_compress(c, p[0], calib, begin, end, recipeJSON)
	})
}

// update runs a call that modifies the model with ctx's settings, under the model's
// write lock and the read locks of the other handles it reads (p[0] is the model).
func (m *Model) update(fn string, ctx *Context, call func(c raw.Handle, p []raw.Handle) error, inputs ...*handle) error {
	return ctx.with(fn, func(c raw.Handle) error {
		return using(fn, true, func(p []raw.Handle) error { return call(c, p) }, append([]*handle{&m.handle}, inputs...)...)
	})
}

// Report is the JSON report of the last Compress or PruneStructured ("{}" before either).
func (m *Model) Report() (string, error) {
	return readText(&m.handle, "surgeon_model_report", raw.Surgeon_model_report)
}

// Save writes format "hf" (a directory; dtype "f32", "f16" or "bf16") or "llama2c" (a
// file, dtype "f32"); what was written is logged to ctx's log callback.
func (m *Model) Save(ctx *Context, path, format, dtype string) error {
	return m.savePath("surgeon_model_save", ctx, path, func(c, p raw.Handle) error {
		return raw.Surgeon_model_save(c, p, path, format, dtype)
	})
}

// SaveGPTQ writes the packed GPTQ checkpoint of the last Compress.
func (m *Model) SaveGPTQ(ctx *Context, dir string) error {
	return m.savePath("surgeon_model_save_gptq", ctx, dir, func(c, p raw.Handle) error {
		return raw.Surgeon_model_save_gptq(c, p, dir)
	})
}

func (m *Model) savePath(fn string, ctx *Context, path string, call func(c, p raw.Handle) error) error {
	if err := checkPath(fn, path); err != nil {
		return err
	}
	return ctx.using(fn, func(c raw.Handle, p []raw.Handle) error { return call(c, p[0]) }, &m.handle)
}

// Linear returns a copy of a linear's weights (row-major) and its shape. name: "wq".."w3"
// or the Hugging Face projection names.
func (m *Model) Linear(block int, name string) (w []float32, rows, cols int, err error) {
	var r, c int64
	err = m.read("surgeon_model_get_linear", func(p raw.Handle) error {
		if err := check(raw.Surgeon_model_linear_shape(p, int64(block), name, &r, &c)); err != nil {
			return err
		}
		w = make([]float32, r*c)
		return raw.Surgeon_model_get_linear(p, int64(block), name, w, r, c)
	})
	if err != nil {
		return nil, 0, 0, err
	}
	return w, int(r), int(c), nil
}

// SetLinear replaces a linear's weights (rows × cols must match, finite values only).
func (m *Model) SetLinear(block int, name string, w []float32, rows, cols int) error {
	const fn = "surgeon_model_set_linear"
	if err := checkMatrix(fn, "w", len(w), rows, cols); err != nil {
		return err
	}
	return m.write(fn, func(p raw.Handle) error {
		return raw.Surgeon_model_set_linear(p, int64(block), name, w, int64(rows), int64(cols))
	})
}

// GenerateOptions configures Generate (surgeon_generate_options): the positions to run,
// prompt included (default 256), the temperature (default 0: greedy) and the sampler's
// seed (default 42) — the defaults of `surgeon generate`.
type GenerateOptions struct {
	handle
}

var generateOptionsKind = kind{"GenerateOptions", func(p raw.Handle) { raw.Surgeon_generate_options_free(p) }}

// NewGenerateOptions returns the defaults.
func NewGenerateOptions() (*GenerateOptions, error) {
	return newEmpty[GenerateOptions](&generateOptionsKind, "surgeon_generate_options_new", raw.Surgeon_generate_options_new)
}

// SetSteps sets the positions to run, prompt included (>= 1).
func (o *GenerateOptions) SetSteps(n int) error {
	return set(&o.handle, "surgeon_generate_options_set_steps", raw.Surgeon_generate_options_set_steps, int64(n))
}

// SetTemperature sets the temperature (>= 0, finite; 0 = greedy).
func (o *GenerateOptions) SetTemperature(t float64) error {
	return set(&o.handle, "surgeon_generate_options_set_temperature", raw.Surgeon_generate_options_set_temperature, t)
}

// SetSeed sets the sampler's seed (unused when greedy).
func (o *GenerateOptions) SetSeed(seed uint64) error {
	return set(&o.handle, "surgeon_generate_options_set_seed", raw.Surgeon_generate_options_set_seed, seed)
}

// Steps is the number of positions set. It panics when o is closed.
func (o *GenerateOptions) Steps() int {
	return int(get(&o.handle, "surgeon_generate_options_get_steps", raw.Surgeon_generate_options_get_steps))
}

// Temperature is the temperature set. It panics when o is closed.
func (o *GenerateOptions) Temperature() float64 {
	return getFloat(&o.handle, "surgeon_generate_options_get_temperature", raw.Surgeon_generate_options_get_temperature)
}

// Seed is the seed set. It panics when o is closed.
func (o *GenerateOptions) Seed() uint64 {
	return get(&o.handle, "surgeon_generate_options_get_seed", raw.Surgeon_generate_options_get_seed)
}

// Generate continues prompt with opts (nil: the defaults) on ctx's backend. Generation
// is deterministic for the options: the size query and the text agree.
func (m *Model) Generate(ctx *Context, prompt string, opts *GenerateOptions) (string, error) {
	const fn = "surgeon_model_generate"
	var text string
	err := ctx.using(fn, func(c raw.Handle, p []raw.Handle) (err error) {
		text, err = sizedText(func(buf []byte, cap int64, needed *int64) error {
			return raw.Surgeon_model_generate(c, p[0], prompt, p[1], buf, cap, needed)
		})
		return err
	}, &m.handle, ref(opts))
	return text, err
}
