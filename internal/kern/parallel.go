package kern

import (
	"sync"
)

// ParallelFor splits [0,n) into contiguous chunks over up to
// th goroutines and calls fn(lo, hi) for each. grain is the
// smallest number of items worth a goroutine; with n <= grain (or one
// processor) fn(0, n) runs inline. Chunks are disjoint and cover [0,n) exactly.
func (th Threads) ParallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	workers := th.workers()
	if max := (n + grain - 1) / grain; workers > max {
		workers = max
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	wg.Add(workers - 1)
	chunk, rem := n/workers, n%workers
	lo := 0
	for w := 0; w < workers; w++ {
		hi := lo + chunk
		if w < rem {
			hi++
		}
		if w == workers-1 {
			fn(lo, hi) // the caller does the last chunk
		} else {
			go func(lo, hi int) {
				defer wg.Done()
				fn(lo, hi)
			}(lo, hi)
		}
		lo = hi
	}
	wg.Wait()
}

// f32Pool hands out float32 scratch slices; use getF32 / putF32.
var f32Pool sync.Pool

type f32Buf struct{ s []float32 }

// getF32 returns a scratch buffer of length n (contents undefined).
func getF32(n int) *f32Buf {
	if v := f32Pool.Get(); v != nil {
		b := v.(*f32Buf)
		if cap(b.s) >= n {
			b.s = b.s[:n]
			return b
		}
	}
	return &f32Buf{s: make([]float32, n)}
}

func putF32(b *f32Buf) { f32Pool.Put(b) }
