// Package surgeon is the Go binding of Surgeon, one-shot second-order compression of LLM
// linear layers: SparseGPT pruning and GPTQ quantization from a layer's Hessian.
//
//	h, _ := surgeon.NewHessian(nil, cols)      // nil context: library defaults
//	defer h.Close()
//	for _, batch := range batches {             // batch: rows × cols float32, row-major
//		if err := h.Add(batch, len(batch)/cols); err != nil { ... }
//	}
//	s, _ := surgeon.NewSolver(h, 0.01, 128)
//	defer s.Close()
//	res, err := s.Prune(w, rows, cols, surgeon.PruneOptions{Sparsity: surgeon.NOfM(2, 4)})
//	defer res.Close()
//
// Slices are handed to C without a copy. Every handle has an idempotent Close; a
// finalizer frees a forgotten one, as a safety net only. Errors are *Error values with
// the C status and a message naming the C function (errors.Is(err, surgeon.ErrShape)).
// Package raw holds the SWIG-generated one-to-one layer over every C function.
package surgeon
