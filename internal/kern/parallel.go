package kern

import (
	"sync"
)

// ParallelFor splits [0,n) into contiguous near-equal chunks over up to th goroutines (the
// worker pool of the GEMM) and calls fn(lo, hi) for each. grain is the
// smallest number of items worth a goroutine; with n <= grain (or one
// processor) fn(0, n) runs inline. Chunks are disjoint and cover [0,n) exactly.
func (th Threads) ParallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := min(th.workers(), (n+max(grain, 1)-1)/max(grain, 1))
	if workers <= 1 {
		fn(0, n)
		return
	}
	t := forTaskPool.Get().(*forTask)
	t.fn, t.n, t.workers = fn, n, workers
	runWorkers(t, workers, &t.join)
	t.fn = nil
	forTaskPool.Put(t)
}

// forTask is a ParallelFor call on the worker pool (pooled): worker w runs chunk w of
// workers near-equal chunks.
type forTask struct {
	fn         func(lo, hi int)
	n, workers int
	join       join
}

var forTaskPool = sync.Pool{New: func() any { return new(forTask) }}

func (t *forTask) work(w int) {
	if lo, hi := w*t.n/t.workers, (w+1)*t.n/t.workers; lo < hi {
		t.fn(lo, hi)
	}
}

// f32Pool hands out float32 slices of at least a requested length, reused.
type f32Pool struct{ p sync.Pool }

type f32Buf struct{ s []float32 }

// get returns a buffer of length n (contents undefined).
func (p *f32Pool) get(n int) *f32Buf {
	if v := p.p.Get(); v != nil {
		b := v.(*f32Buf)
		if cap(b.s) >= n {
			b.s = b.s[:n]
			return b
		}
	}
	return &f32Buf{s: make([]float32, n)}
}

func (p *f32Pool) put(b *f32Buf) { p.p.Put(b) }

// scratchPool holds the kernels' scratch; packPool the packed A and B panels
// of gemmBlocked (apart, so that small scratch does not evict the large
// panels).
var scratchPool, packPool f32Pool

// getF32 returns a scratch buffer of length n (contents undefined); putF32
// gives it back.
func getF32(n int) *f32Buf { return scratchPool.get(n) }

func putF32(b *f32Buf) { scratchPool.put(b) }
