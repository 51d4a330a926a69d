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
	if c := m.Config(); c.Dim != 64 || c.Layers != 5 || c.VocabSize != 512 || c.HiddenDim != 172 {
		t.Fatalf("config %+v", c)
	}
	ids, err := m.Encode(text[:strings.Index(text, "\n\n")], true)
	if err != nil || len(ids) < 5 || ids[0] != 1 || ids[1] != 301 || ids[4] != 426 {
		t.Fatalf("ids %v, %v", ids[:5], err)
	}
	p, err := m.PerplexityOfText(nil, text, Paragraphs, 0, 50, 0)
	if err != nil || p.Tokens != 5055 || math.Abs(p.NLL-1.3847) > 1e-3 {
		t.Fatalf("perplexity %+v, %v", p, err)
	}
	// The windows protocol on the text's tokens, from the text or from the ids.
	windows := must(m.PerplexityOfText(nil, text[:4000], Windows, 0, -1, 0)).of(t)
	stream := must(m.PerplexityOfTokens(nil, must(m.Encode(text[:4000], false)).of(t), 0)).of(t)
	if windows != stream || windows.Tokens == 0 {
		t.Fatalf("windows %+v, token stream %+v", windows, stream)
	}
	// The file entry point reads the file the text came from.
	dataDir := filepath.Dir(path)
	ofFile := must(m.PerplexityOfFile(nil, filepath.Join(dataDir, "tinystories-valid.txt"), Paragraphs, 0, 50, 0)).of(t)
	if ofFile != p {
		t.Fatalf("of file %+v, of text %+v", ofFile, p)
	}
	// A path given as the text is one paragraph: the error counts paragraphs.
	_, err = m.PerplexityOfText(nil, filepath.Join(dataDir, "tinystories-valid.txt"), Paragraphs, 2000, 2128, 0)
	if e := expectError(t, err, StatusInvalidArgument, "surgeon_model_perplexity"); !strings.HasSuffix(e.Message, "paragraphs 2000:2128 requested, the text has 1") {
		t.Fatalf("message %q", e.Message)
	}
	_, err = m.PerplexityOfFile(nil, dataDir, Paragraphs, 0, -1, 0)
	expectError(t, err, StatusIO, "surgeon_model_perplexity_file")
	_, err = m.PerplexityOfText(nil, "a\x00b", Paragraphs, 0, -1, 0)
	expectError(t, err, StatusInvalidArgument, "surgeon_model_perplexity")
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
	if s, tp, seed := o.Steps(), o.Temperature(), o.Seed(); s != 256 || tp != 0 || seed != 42 {
		t.Fatalf("defaults %d %g %d", s, tp, seed)
	}
	noErr(t, all(o.SetSteps(12), o.SetTemperature(0.5), o.SetSeed(math.MaxUint64)))
	expectError(t, o.SetSteps(0), StatusInvalidArgument, "surgeon_generate_options_set_steps")
	expectError(t, o.SetTemperature(-1), StatusInvalidArgument, "surgeon_generate_options_set_temperature")
	expectError(t, o.SetTemperature(math.NaN()), StatusInvalidArgument, "surgeon_generate_options_set_temperature")
	if s, tp, seed := o.Steps(), o.Temperature(), o.Seed(); s != 12 || tp != 0.5 || seed != math.MaxUint64 {
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
	before, err := m.PerplexityOfText(nil, text, Paragraphs, 0, 30, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A clone is independent: structured pruning of the clone leaves the model as it was.
	clone := closing(t, must(m.Clone()).of(t))
	if clone.Config() != m.Config() || must(clone.Report()).of(t) != "{}" {
		t.Fatal("the clone differs from the model")
	}
	l2 := closing(t, must(NewStructuredOptions()).of(t))
	noErr(t, l2.SetMethod(FFNL2))
	noErr(t, clone.PruneStructured(nil, l2))
	if clone.Config().HiddenDim >= m.Config().HiddenDim {
		t.Fatal("pruning the clone changed nothing")
	}
	if after := must(m.PerplexityOfText(nil, text, Paragraphs, 0, 30, 0)).of(t); after != before {
		t.Fatalf("pruning the clone changed the model: %+v, %+v", after, before)
	}
	dir := t.TempDir()
	if err := m.Save(nil, filepath.Join(dir, "hf"), "hf", "f32"); err != nil {
		t.Fatal(err)
	}
	back := loadModel(t, filepath.Join(dir, "hf"))
	after, err := back.PerplexityOfText(nil, text, Paragraphs, 0, 30, 0)
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
	expectPanic(t, "surgeon_model_get_config", func() { m.Config() })
}

// loadModel loads path, closed when the test ends.
func loadModel(t *testing.T, path string) *Model {
	t.Helper()
	m := must(LoadModel(nil, path)).of(t)
	t.Cleanup(func() { m.Close() })
	return m
}
