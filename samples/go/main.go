// Command surgeon-sample compresses one real linear layer (stories260K, block 2,
// attention wq) with the Go binding: it streams the calibration inputs X into a Hessian in
// batches, then runs SparseGPT 2:4, GPTQ 4-bit and both jointly from one solver, prints
// each result's relative reconstruction error and writes the compressed weights as .npy.
// Given a model and a text file too, it first prints the model's perplexity on the text's
// first 20 paragraphs.
//
//	go run . [fixture_dir] [out_dir] [model text_file]
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"surgeon.dev/surgeon"
	"surgeon.dev/surgeon/npy"
)

const batchRows = 512

// perplexity loads a model (llama2.c file or Hugging Face directory, with its tokenizer
// beside it) and scores paragraphs [0, 20) of a text file.
func perplexity(modelPath, textFile string) error {
	model, err := surgeon.LoadModel(nil, modelPath)
	if err != nil {
		return err
	}
	defer model.Close()
	c := model.Config()
	p, err := model.PerplexityOfFile(nil, textFile, surgeon.Paragraphs, 0, 20, 0)
	if err != nil {
		return err
	}
	fmt.Printf("model %s (%d blocks, dim %d): perplexity %.4f over %d paragraphs, %d tokens\n",
		filepath.Base(modelPath), c.Layers, c.Dim, p.PPL, p.Sequences, p.Tokens)
	return nil
}

func run(fixture, outDir string) error {
	w, err := npy.Read(filepath.Join(fixture, "W.npy"))
	if err != nil {
		return err
	}
	x, err := npy.Read(filepath.Join(fixture, "X.npy"))
	if err != nil {
		return err
	}
	rows, cols, ok := w.Dims2()
	tokens, xCols, okX := x.Dims2()
	if !ok || !okX || xCols != cols {
		return fmt.Errorf("W %v and X %v are not a layer's weight and inputs", w.Shape, x.Shape)
	}
	fmt.Printf("layer %d x %d, %d calibration tokens, Surgeon %s\n", rows, cols, tokens, surgeon.Version())

	ctx, err := surgeon.NewContext(surgeon.WithLog(func(level surgeon.LogLevel, message string) {
		if level >= surgeon.LogWarning {
			fmt.Fprintln(os.Stderr, "surgeon:", message)
		}
	}))
	if err != nil {
		return err
	}
	defer ctx.Close()

	// Streaming: each batch is passed to C without a copy; the accumulator keeps only H.
	hessian, err := surgeon.NewHessian(ctx, cols)
	if err != nil {
		return err
	}
	defer hessian.Close()
	for start := 0; start < tokens; start += batchRows {
		n := batchRows
		if tokens-start < n {
			n = tokens - start
		}
		if err := hessian.Add(x.Data[start*cols:(start+n)*cols], n); err != nil {
			return err
		}
	}
	samples := hessian.Samples()
	fmt.Printf("hessian: %d rows in batches of %d\n", samples, batchRows)

	// Every constructor mirrors its C function: (context, inputs, options); nil options
	// are the defaults (damping 0.01, blocks of 128 columns).
	solver, err := surgeon.NewSolver(ctx, hessian, nil)
	if err != nil {
		return err
	}
	defer solver.Close()
	gptq4, err := surgeon.NewQuantizer(4)
	if err != nil {
		return err
	}
	defer gptq4.Close()
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	report := func(name, file string, wHat []float32) error {
		e, err := surgeon.ReconstructionError(hessian, w.Data, wHat, rows, cols)
		if err != nil {
			return err
		}
		zeros := 0
		for _, v := range wHat {
			if v == 0 {
				zeros++
			}
		}
		fmt.Printf("%-24s relative reconstruction error %.6f  zeros %.1f%%\n", name, e,
			100*float64(zeros)/float64(len(wHat)))
		return npy.Write(filepath.Join(outDir, file), wHat, rows, cols)
	}

	nm24, err := surgeon.NewPruneOptions()
	if err != nil {
		return err
	}
	defer nm24.Close()
	if err := nm24.SetNM(2, 4); err != nil {
		return err
	}
	pruned := append([]float32(nil), w.Data...)
	res, err := solver.Prune(pruned, rows, cols, nm24)
	if err != nil {
		return err
	}
	if is24, err := res.Mask.CheckNM(2, 4); err != nil || !is24 {
		return fmt.Errorf("mask is not 2:4 (%v)", err)
	}
	res.Close()
	if err := report("SparseGPT 2:4", "W_sparsegpt_2of4.npy", pruned); err != nil {
		return err
	}

	quantized := append([]float32(nil), w.Data...)
	codes, _, err := solver.Quantize(quantized, rows, cols, gptq4)
	if err != nil {
		return err
	}
	shape := codes.Shape()
	codes.Close()
	if err := report("GPTQ 4-bit", "W_gptq_w4.npy", quantized); err != nil {
		return err
	}
	fmt.Printf("  codes %d x %d (%d bits), %d scale group(s) per row\n", shape.Rows, shape.Cols, shape.Bits, shape.Groups)

	joint := append([]float32(nil), w.Data...)
	if err := nm24.SetQuantizer(gptq4); err != nil {
		return err
	}
	jres, err := solver.Prune(joint, rows, cols, nm24)
	if err != nil {
		return err
	}
	jres.Close()
	if err := report("SparseGPT 2:4 + 4-bit", "W_sparsegpt_2of4_w4.npy", joint); err != nil {
		return err
	}
	fmt.Printf("wrote W_sparsegpt_2of4.npy W_gptq_w4.npy W_sparsegpt_2of4_w4.npy to %s\n", outDir)
	return nil
}

func main() {
	fixture, outDir := "../../tests/fixtures/stories260K_block2_wq", "."
	if len(os.Args) > 1 {
		fixture = os.Args[1]
	}
	if len(os.Args) > 2 {
		outDir = os.Args[2]
	}
	if len(os.Args) == 5 {
		if err := perplexity(os.Args[3], os.Args[4]); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
	}
	if err := run(fixture, outDir); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
