package kern

import (
	"sync"
	"sync/atomic"
)

// rowJob is the body of a row-parallel kernel: it processes rows [lo, hi). Kernels keep their
// arguments in a pooled job struct, so that running one (parallelRows) allocates nothing,
// where ParallelFor's closure and goroutines allocate on every call.
type rowJob interface{ rows(lo, hi int) }

// rowsTask runs a rowJob over [0, n) on the worker pool of runWorkers, in chunks claimed from
// an atomic counter (a worker that starts late takes fewer chunks).
type rowsTask struct {
	job      rowJob
	n, chunk int
	next     atomic.Int64
	join     join
}

var rowsTaskPool = sync.Pool{New: func() any { return new(rowsTask) }}

func (t *rowsTask) work(int) {
	for {
		lo := int(t.next.Add(int64(t.chunk))) - t.chunk
		if lo >= t.n {
			return
		}
		t.job.rows(lo, min(lo+t.chunk, t.n))
	}
}

// parallelRows calls job.rows over disjoint chunks covering [0, n), on up to
// workers goroutines; grain is the smallest number of rows worth a worker
// (n <= grain runs inline). Like ParallelFor, but without allocating.
func parallelRows(workers, n, grain int, job rowJob) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	workers = min(workers, (n+grain-1)/grain)
	if workers <= 1 {
		job.rows(0, n)
		return
	}
	t := rowsTaskPool.Get().(*rowsTask)
	t.job, t.n = job, n
	// A few chunks per worker, so that a late one does not hold the others up.
	t.chunk = max(grain, (n+4*workers-1)/(4*workers))
	t.next.Store(0)
	runWorkers(t, workers, &t.join)
	t.job = nil
	rowsTaskPool.Put(t)
}
