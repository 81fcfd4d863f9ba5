package model

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/valora-go/valora/internal/kern"
)

// KernelName names the matrix-multiplication kernel chosen for this CPU at start-up, the one
// every projection of the forward and backward passes runs on: the instruction set of the
// assembly kernel (e.g. "avx2-fma"), or "purego" for the portable Go code (other CPUs, or the
// purego build tag).
func KernelName() string { return kern.KernelName() }

// GemmGFLOPS is a benchmark aid: it times C = A·B for A [m,k] and B [k,n] (float32,
// row-major, no transposes, as torch.mm) on the kernel the model uses, parallel over
// GOMAXPROCS, and returns the median over reps timed runs, after one untimed run, in GFLOP/s
// (2·m·k·n floating-point operations per product). It allocates the three matrices, filled with
// seeded random values. It panics if m, k, n or reps is below 1.
func GemmGFLOPS(m, k, n, reps int) float64 {
	if m < 1 || k < 1 || n < 1 || reps < 1 {
		panic(fmt.Sprintf("model: GemmGFLOPS(%d, %d, %d, %d): every argument must be at least 1", m, k, n, reps))
	}
	rng := rand.New(rand.NewPCG(uint64(m), uint64(k)<<32|uint64(n)))
	fill := func(s []float32) []float32 {
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	a, b, c := fill(make([]float32, m*k)), fill(make([]float32, k*n)), make([]float32, m*n)
	mul := func() { kern.Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n) }
	mul()
	ts := make([]float64, reps)
	for i := range ts {
		t0 := time.Now()
		mul()
		ts[i] = time.Since(t0).Seconds()
	}
	slices.Sort(ts)
	med := ts[reps/2]
	if reps%2 == 0 {
		med = (ts[reps/2-1] + ts[reps/2]) / 2
	}
	return 2 * float64(m) * float64(k) * float64(n) / max(med, 1e-9) / 1e9
}
