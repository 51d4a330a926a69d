// Package surgeon is the Go binding of Surgeon, one-shot second-order compression of LLM
// linear layers: SparseGPT pruning and GPTQ quantization from a layer's Hessian.
//
//	h, _ := surgeon.NewHessian(ctx, cols)       // nil ctx: library defaults
//	defer h.Close()
//	for _, batch := range batches {             // batch: rows × cols float32, row-major
//		if err := h.Add(batch, len(batch)/cols); err != nil { ... }
//	}
//	s, _ := surgeon.NewSolver(ctx, h, nil)      // nil options: the defaults
//	defer s.Close()
//	opts, _ := surgeon.NewPruneOptions()
//	defer opts.Close()
//	opts.SetNM(2, 4)
//	res, err := s.Prune(w, rows, cols, opts)
//	defer res.Close()
//
// Names and constructors mirror the C API: one Go type per C handle (Hessian for
// surgeon_hessian, QuantResult for surgeon_qresult, PruneOptions for
// surgeon_prune_options, ...), constructors take (ctx, inputs..., options) in the C
// argument order, options objects have the C setters, so the C documentation applies
// unchanged. Slices are handed to C without a copy. Every handle has an idempotent Close;
// a finalizer frees a forgotten one, as a safety net only. Errors are *Error values with
// the C status and a message naming the C function (errors.Is(err, surgeon.ErrShape)).
// Package raw holds the SWIG-generated one-to-one layer over every C function.
package surgeon
