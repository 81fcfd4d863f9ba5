package kern

import (
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestThreadsWorkers(t *testing.T) {
	p := runtime.GOMAXPROCS(0)
	for _, tc := range []struct {
		th   Threads
		want int
	}{{0, p}, {-3, p}, {1, 1}, {Threads(p), p}, {Threads(p + 5), p}} {
		require.Equal(t, tc.want, tc.th.workers(), "Threads(%d)", tc.th)
	}
}

// TestThreadsCapParallelFor checks that a capped ParallelFor never runs more chunks at once
// than its cap, and still covers [0, n) exactly.
func TestThreadsCapParallelFor(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, th := range []Threads{1, 2, 3, 0} {
		var live, peak atomic.Int32
		seen := make([]int32, 1000)
		th.ParallelFor(len(seen), 1, func(lo, hi int) {
			n := live.Add(1)
			for {
				old := peak.Load()
				if n <= old || peak.CompareAndSwap(old, n) {
					break
				}
			}
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&seen[i], 1)
			}
			live.Add(-1)
		})
		require.LessOrEqual(t, int(peak.Load()), th.workers(), "Threads(%d)", th)
		for i, c := range seen {
			require.EqualValues(t, 1, c, "Threads(%d): item %d", th, i)
		}
	}
}

// TestThreadsSameResult checks that the cap changes only how many goroutines run, not the
// numbers: with the assembly driver every tile of C is computed by one worker in the same
// order whatever the cap.
func TestThreadsSameResult(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	rng := newRNG(21)
	m, n, k := 100, 130, 300
	a, b := randSlice(rng, m*k), randSlice(rng, k*n)
	w := &Weight{Rows: n, Cols: k, DType: F32, F32: randSlice(rng, n*k)}
	x := randSlice(rng, m*k)
	var refC, refY []float32
	for _, th := range []Threads{0, 1, 2, 3} {
		c := make([]float32, m*n)
		th.Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		y := make([]float32, m*n)
		th.Linear(y, x, m, w, false)
		if refC == nil {
			refC, refY = c, y
			continue
		}
		if fastKernel == nil {
			// The portable parallel path is gonum's, another summation order than the
			// serial packed one.
			requireClose(t, to64(refC), c, 1e-5, fmt.Sprintf("Gemm with Threads(%d)", th))
			requireClose(t, to64(refY), y, 1e-5, fmt.Sprintf("Linear with Threads(%d)", th))
			continue
		}
		require.True(t, slices.Equal(refC, c), "Gemm with Threads(%d) differs", th)
		require.True(t, slices.Equal(refY, y), "Linear with Threads(%d) differs", th)
	}
}
