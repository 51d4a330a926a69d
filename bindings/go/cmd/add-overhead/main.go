// Command add-overhead measures the Go binding's cost on the hot path: it feeds the same
// rows × cols float32 activations, in batches of `batch` rows, into one accumulator
// through Hessian.Add and into another through a C loop calling surgeon_hessian_add_f32
// directly, alternating which goes first, and prints both timings. The binding passes
// each slice's memory to C without a copy, so the two should agree within noise.
//
//	go run ./cmd/add-overhead [rows] [cols] [repetitions] [batch]
//	(default 16384 4096 3 1024: 64 Mi floats, 256 MiB, per repetition)
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"surgeon.dev/surgeon"
)

func arg(i, fallback int) int {
	if len(os.Args) <= i {
		return fallback
	}
	v, err := strconv.Atoi(os.Args[i])
	if err != nil || v <= 0 {
		fmt.Fprintf(os.Stderr, "argument %d: want a positive integer, got %q\n", i, os.Args[i])
		os.Exit(2)
	}
	return v
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func minimum(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		if x < m {
			m = x
		}
	}
	return m
}

func run() error {
	rows, cols, reps, batch := arg(1, 16384), arg(2, 4096), arg(3, 3), arg(4, 1024)
	if batch > rows {
		batch = rows
	}
	// Deterministic pseudo-random inputs in [-1, 1) (xorshift64).
	x := make([]float32, rows*cols)
	state := uint64(0x2545f4914f6cdd1d)
	for i := range x {
		state ^= state << 13
		state ^= state >> 7
		state ^= state << 17
		x[i] = float32(state>>40)/float32(1<<23) - 1
	}

	wrapped, err := surgeon.NewHessian(nil, cols)
	if err != nil {
		return err
	}
	defer wrapped.Close()
	direct, err := newDirectHessian(cols)
	if err != nil {
		return err
	}
	defer direct.close()

	viaGo := func() (float64, error) {
		start := time.Now()
		for r := 0; r < rows; r += batch {
			n := batch
			if rows-r < n {
				n = rows - r
			}
			if err := wrapped.Add(x[r*cols:(r+n)*cols], n); err != nil {
				return 0, err
			}
		}
		return time.Since(start).Seconds(), nil
	}
	viaC := func() (float64, error) { return direct.feed(x, rows, cols, batch) }

	// Warm up OpenBLAS's threads and both accumulators' pages.
	warm := 64
	if warm > rows {
		warm = rows
	}
	if err := wrapped.Add(x[:warm*cols], warm); err != nil {
		return err
	}
	if _, err := direct.feed(x, warm, cols, warm); err != nil {
		return err
	}

	var cTimes, goTimes []float64
	for rep := 0; rep < reps; rep++ {
		first, second := viaC, viaGo
		if rep%2 == 1 { // alternate so neither always runs on a warmer machine
			first, second = viaGo, viaC
		}
		a, err := first()
		if err != nil {
			return err
		}
		b, err := second()
		if err != nil {
			return err
		}
		if rep%2 == 1 {
			a, b = b, a
		}
		cTimes, goTimes = append(cTimes, a), append(goTimes, b)
		fmt.Printf("rep %d: C %.3f s  Go %.3f s\n", rep, a, b)
	}
	ctx, _ := surgeon.NewContext()
	threads := ctx.Threads()
	ctx.Close()
	fmt.Printf("%d x %d floats (%.2f GiB) per repetition in batches of %d rows, %d threads, %d repetitions\n",
		rows, cols, float64(rows*cols*4)/(1<<30), batch, threads, reps)
	fmt.Printf("direct C call    median %.3f s  min %.3f s\n", median(cTimes), minimum(cTimes))
	fmt.Printf("Go binding       median %.3f s  min %.3f s\n", median(goTimes), minimum(goTimes))
	fmt.Printf("binding / direct (medians): %.4f\n", median(goTimes)/median(cTimes))
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
