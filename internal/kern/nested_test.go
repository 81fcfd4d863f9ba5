package kern

import (
	"fmt"
	"runtime"
	"testing"
)

// Kernels may nest: a ParallelFor body that runs a parallel GEMM completes (the caller that
// waits runs queued steps itself, so no step waits for a worker that is waiting).
func TestNestedParallelKernels(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	rng := newRNG(9)
	m, n, k := 64, 96, 80
	a, b := randSlice(rng, m*k), randSlice(rng, k*n)
	want := make([]float32, m*n)
	GemmSerial(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
	outs := make([][]float32, 12)
	ParallelFor(len(outs), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			outs[i] = make([]float32, m*n)
			Gemm(false, false, m, n, k, 1, a, k, b, n, 0, outs[i], n)
		}
	})
	for i, c := range outs {
		requireClose(t, to64(want), c, 1e-5, fmt.Sprintf("nested product %d", i))
	}
}
