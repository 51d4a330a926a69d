package surgeon

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The bundled stories260K and its numbers from the data's SOURCES.md.
func bundled(t *testing.T) (model, text string) {
	dir := filepath.Join(fixturesDir(t), "..", "..", "samples", "data")
	if _, err := os.Stat(filepath.Join(dir, "stories260K.bin")); err != nil {
		dir = "../../samples/data"
	}
	b, err := os.ReadFile(filepath.Join(dir, "tinystories-valid.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "stories260K.bin"), string(b)
}

func TestModelPerplexityEncodeAndGenerate(t *testing.T) {
	path, text := bundled(t)
	m := loadModel(t, path)
	c, err := m.Config()
	if err != nil || c.Dim != 64 || c.Layers != 5 || c.VocabSize != 512 {
		t.Fatalf("config %+v, %v", c, err)
	}
	ids, err := m.Encode(text[:strings.Index(text, "\n\n")], true)
	if err != nil || len(ids) < 5 || ids[0] != 1 || ids[1] != 301 || ids[4] != 426 {
		t.Fatalf("ids %v, %v", ids[:5], err)
	}
	p, err := m.Perplexity(nil, text, Paragraphs, 0, 50, 0)
	if err != nil || p.Tokens != 5055 || math.Abs(p.NLL-1.3847) > 1e-3 {
		t.Fatalf("perplexity %+v, %v", p, err)
	}
	// The windows protocol on the text's tokens, from the text or from the ids.
	windows := must(m.Perplexity(nil, text[:4000], Windows, 0, -1, 0)).of(t)
	stream := must(m.PerplexityTokens(nil, must(m.Encode(text[:4000], false)).of(t), 0)).of(t)
	if windows != stream || windows.Tokens == 0 {
		t.Fatalf("windows %+v, token stream %+v", windows, stream)
	}
	ctx := closing(t, must(NewContext()).of(t))
	story, err := m.Generate(ctx, "", generateOpts(t, 40, 0, 0))
	if err != nil || !strings.HasPrefix(story, "Once upon a time, there was a little girl named Lily.") {
		t.Fatalf("generate %q, %v", story, err)
	}
	// Sampling is a function of the options; nil options are the defaults (256 steps, greedy).
	a := must(m.Generate(ctx, "Once", generateOpts(t, 60, 1, 7))).of(t)
	if b := must(m.Generate(nil, "Once", generateOpts(t, 60, 1, 7))).of(t); a != b || !strings.HasPrefix(a, "Once") {
		t.Fatalf("same seed, different text: %q, %q", a, b)
	}
	long := must(m.Generate(nil, "", nil)).of(t)
	if !strings.HasPrefix(long, story) || len(long) <= len(story) {
		t.Fatalf("defaults: %q", long)
	}
}

func TestGenerateOptions(t *testing.T) {
	o := closing(t, must(NewGenerateOptions()).of(t))
	if s, tp, seed := must(o.Steps()).of(t), must(o.Temperature()).of(t), must(o.Seed()).of(t); s != 256 || tp != 0 || seed != 42 {
		t.Fatalf("defaults %d %g %d", s, tp, seed)
	}
	noErr(t, all(o.SetSteps(12), o.SetTemperature(0.5), o.SetSeed(math.MaxUint64)))
	expectError(t, o.SetSteps(0), StatusInvalidArgument, "surgeon_generate_options_set_steps")
	expectError(t, o.SetTemperature(-1), StatusInvalidArgument, "surgeon_generate_options_set_temperature")
	expectError(t, o.SetTemperature(math.NaN()), StatusInvalidArgument, "surgeon_generate_options_set_temperature")
	if s, tp, seed := must(o.Steps()).of(t), must(o.Temperature()).of(t), must(o.Seed()).of(t); s != 12 || tp != 0.5 || seed != math.MaxUint64 {
		t.Fatalf("after refused values %d %g %d", s, tp, seed)
	}
}

func TestModelCompressSaveReload(t *testing.T) {
	path, text := bundled(t)
	m := loadModel(t, path)
	if report := must(m.Report()).of(t); report != "{}" {
		t.Fatalf("report before compressing: %q", report)
	}
	noErr(t, m.Compress(nil, text, 2000, 2016, `{"default": {"method": "sparsegpt", "nm": "2:4"}}`))
	if report := must(m.Report()).of(t); !strings.Contains(report, `"linear_sparsity":0.5`) {
		t.Fatalf("compress report %.200s", report)
	}
	w, _, _, err := m.Linear(2, "gate_proj")
	if err != nil {
		t.Fatal(err)
	}
	for g := 0; g < len(w); g += 4 {
		zeros := 0
		for _, v := range w[g : g+4] {
			if v == 0 {
				zeros++
			}
		}
		if zeros < 2 {
			t.Fatalf("group %d is not 2:4: %v", g, w[g:g+4])
		}
	}
	before, err := m.Perplexity(nil, text, Paragraphs, 0, 30, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A clone is independent: structured pruning of the clone leaves the model as it was.
	clone := closing(t, must(m.Clone()).of(t))
	if must(clone.Config()).of(t) != must(m.Config()).of(t) || must(clone.Report()).of(t) != "{}" {
		t.Fatal("the clone differs from the model")
	}
	l2 := closing(t, must(NewStructuredOptions()).of(t))
	noErr(t, l2.SetMethod(FFNL2))
	noErr(t, clone.PruneStructured(nil, l2))
	if must(clone.Config()).of(t).HiddenDim >= must(m.Config()).of(t).HiddenDim {
		t.Fatal("pruning the clone changed nothing")
	}
	if after := must(m.Perplexity(nil, text, Paragraphs, 0, 30, 0)).of(t); after != before {
		t.Fatalf("pruning the clone changed the model: %+v, %+v", after, before)
	}
	dir := t.TempDir()
	if err := m.Save(nil, filepath.Join(dir, "hf"), "hf", "f32"); err != nil {
		t.Fatal(err)
	}
	back := loadModel(t, filepath.Join(dir, "hf"))
	after, err := back.Perplexity(nil, text, Paragraphs, 0, 30, 0)
	if err != nil || after.PPL != before.PPL {
		t.Fatalf("reloaded ppl %v vs %v (%v)", after.PPL, before.PPL, err)
	}
}

func TestModelErrorsLeaveItUnchanged(t *testing.T) {
	path, _ := bundled(t)
	if _, err := LoadModel(nil, "/nonexistent.bin"); !errors.Is(err, ErrIO) && !strings.Contains(err.Error(), "surgeon_model_load") {
		t.Fatalf("load of a missing file: %v", err)
	}
	m := loadModel(t, path)
	wq, rows, cols, _ := m.Linear(0, "wq")
	if err := m.Compress(nil, "text", 0, 1, `{"default": {"method": "gptq", "bits": 12}}`); err == nil {
		t.Fatal("bits 12 accepted")
	}
	bad := append([]float32(nil), wq...)
	bad[3] = float32(math.NaN())
	if err := m.SetLinear(0, "wq", bad, rows, cols); err == nil || !strings.Contains(err.Error(), "non-finite") {
		t.Fatalf("NaN weights: %v", err)
	}
	again, _, _, _ := m.Linear(0, "wq")
	for i := range wq {
		if wq[i] != again[i] {
			t.Fatalf("weights changed at %d", i)
		}
	}
	if err := m.SetTokenizer(nil, "/nonexistent/tokenizer.bin"); !errors.Is(err, ErrIO) {
		t.Fatalf("missing tokenizer: %v", err)
	}
	m.Close()
	if _, err := m.Config(); err == nil {
		t.Fatal("use after Close accepted")
	}
}

// loadModel loads path, closed when the test ends.
func loadModel(t *testing.T, path string) *Model {
	t.Helper()
	m := must(LoadModel(nil, path)).of(t)
	t.Cleanup(func() { m.Close() })
	return m
}
