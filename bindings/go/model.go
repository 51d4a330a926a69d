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
// SetLinear and Close are serialized by the binding.
type Model struct {
	handle
}

// LoadModel loads a llama2.c checkpoint file or a Hugging Face directory.
func LoadModel(path string) (*Model, error) {
	const fn = "surgeon_model_load"
	if err := checkPath(fn, path); err != nil {
		return nil, err
	}
	var ptr raw.Handle
	if err := check(raw.Surgeon_model_load(&ptr, path)); err != nil {
		return nil, err
	}
	m := &Model{}
	m.init("Model", ptr, func(p raw.Handle) { raw.Surgeon_model_free(p) }, nil)
	setFinalizer(m)
	return m, nil
}

// Close frees the model; later calls return an error.
func (m *Model) Close() error {
	m.close()
	return nil
}

// Config returns the model's dimensions.
func (m *Model) Config() (ModelConfig, error) {
	const fn = "surgeon_model_get_config"
	p, err := m.shared(fn)
	if err != nil {
		return ModelConfig{}, err
	}
	defer m.mu.RUnlock()
	c := raw.NewSurgeon_model_config()
	defer raw.DeleteSurgeon_model_config(c)
	if err := check(raw.Surgeon_model_get_config(p, c)); err != nil {
		return ModelConfig{}, err
	}
	return ModelConfig{c.GetDim(), c.GetHidden_dim(), c.GetN_layers(), c.GetN_heads(), c.GetN_kv_heads(),
		c.GetVocab_size(), c.GetSeq_len(), c.GetParameters(), c.GetHead_dim()}, nil
}

// Encode returns the token ids of text, with BOS first when bos is set.
func (m *Model) Encode(text string, bos bool) ([]int32, error) {
	const fn = "surgeon_model_encode"
	p, err := m.shared(fn)
	if err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	flag := 0
	if bos {
		flag = 1
	}
	var count int64
	if err := check(raw.Surgeon_model_encode(p, text, flag, nil, 0, &count)); err != nil {
		return nil, err
	}
	ids := make([]int32, count)
	if err := check(raw.Surgeon_model_encode(p, text, flag, ids, count, &count)); err != nil {
		return nil, err
	}
	return ids, nil
}

// Perplexity scores text: paragraphs or windows [begin, end) (end < 0: all); seqLen 0
// means the model's context.
func (m *Model) Perplexity(ctx *Context, text string, mode EvalMode, begin, end, seqLen int64) (Perplexity, error) {
	const fn = "surgeon_model_perplexity"
	s, err := ctx.acquire(fn)
	if err != nil {
		return Perplexity{}, err
	}
	defer s.release()
	p, err := m.shared(fn)
	if err != nil {
		return Perplexity{}, err
	}
	defer m.mu.RUnlock()
	out := raw.NewSurgeon_perplexity()
	defer raw.DeleteSurgeon_perplexity(out)
	if err := check(raw.Surgeon_model_perplexity(s.raw(), p, text, raw.Enum_SS_surgeon_eval_mode(mode), begin, end, seqLen, out)); err != nil {
		return Perplexity{}, err
	}
	return Perplexity{out.GetSequences(), out.GetTokens(), out.GetNll(), out.GetPpl()}, nil
}

// Compress compresses every linear layer block by block (true-sequential), calibrating on
// the non-empty paragraphs [begin, end) of calib, as the JSON recipe says, e.g.
// {"default": {"method": "sparsegpt", "nm": "2:4"}}. The model is unchanged on failure.
// Returns the JSON report.
func (m *Model) Compress(ctx *Context, calib string, begin, end int64, recipeJSON string) (string, error) {
	const fn = "surgeon_model_compress"
	s, err := ctx.acquire(fn)
	if err != nil {
		return "", err
	}
	defer s.release()
	p, err := m.exclusive(fn)
	if err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	if err := check(raw.Surgeon_model_compress(s.raw(), p, calib, begin, end, recipeJSON)); err != nil {
		return "", err
	}
	var report string
	err = check(raw.Surgeon_model_report(p, &report))
	return report, err
}

// Save writes format "hf" (a directory; dtype "f32", "f16" or "bf16") or "llama2c" (a
// file, dtype "f32").
func (m *Model) Save(path, format, dtype string) error {
	const fn = "surgeon_model_save"
	if err := checkPath(fn, path); err != nil {
		return err
	}
	p, err := m.shared(fn)
	if err != nil {
		return err
	}
	defer m.mu.RUnlock()
	return check(raw.Surgeon_model_save(p, path, format, dtype))
}

// SaveGPTQ writes the packed GPTQ checkpoint of the last Compress.
func (m *Model) SaveGPTQ(dir string) error {
	const fn = "surgeon_model_save_gptq"
	if err := checkPath(fn, dir); err != nil {
		return err
	}
	p, err := m.shared(fn)
	if err != nil {
		return err
	}
	defer m.mu.RUnlock()
	return check(raw.Surgeon_model_save_gptq(p, dir))
}

// Linear returns a copy of a linear's weights (row-major) and its shape. name: "wq".."w3"
// or the Hugging Face projection names.
func (m *Model) Linear(block int, name string) (w []float32, rows, cols int, err error) {
	const fn = "surgeon_model_get_linear"
	p, err := m.shared(fn)
	if err != nil {
		return nil, 0, 0, err
	}
	defer m.mu.RUnlock()
	var r, c int64
	if err := check(raw.Surgeon_model_linear_shape(p, int64(block), name, &r, &c)); err != nil {
		return nil, 0, 0, err
	}
	w = make([]float32, r*c)
	if err := check(raw.Surgeon_model_get_linear(p, int64(block), name, w, r, c)); err != nil {
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
	p, err := m.exclusive(fn)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	return check(raw.Surgeon_model_set_linear(p, int64(block), name, w, int64(rows), int64(cols)))
}

// Generate continues prompt for up to steps positions, greedily when temperature is 0.
func (m *Model) Generate(prompt string, steps int, temperature float64, seed uint64) (string, error) {
	const fn = "surgeon_model_generate"
	p, err := m.shared(fn)
	if err != nil {
		return "", err
	}
	defer m.mu.RUnlock()
	// Room for typical pieces first; generation is deterministic, so a second run with the
	// exact size gives the same text when it was longer.
	buf := make([]byte, steps*32+len(prompt)+64)
	var length int64
	if err := check(raw.Surgeon_model_generate(p, prompt, int64(steps), temperature, seed, buf, int64(len(buf)), &length)); err != nil {
		return "", err
	}
	if length >= int64(len(buf)) {
		buf = make([]byte, length+1)
		if err := check(raw.Surgeon_model_generate(p, prompt, int64(steps), temperature, seed, buf, int64(len(buf)), &length)); err != nil {
			return "", err
		}
	}
	return string(buf[:length]), nil
}
