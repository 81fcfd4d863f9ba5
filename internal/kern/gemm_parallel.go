package kern

import (
	"sync"
	"sync/atomic"
	"time"
)

// The parallel steps of gemmBlocked run on a pool of long-lived worker
// goroutines fed through a channel, with task state in pooled objects, so
// that a parallel Gemm allocates nothing in steady state (ParallelFor starts
// goroutines, which allocates). Work is claimed from atomic counters: a
// worker that starts late (the pool busy with another caller's Gemm, or the
// core taken by another process) takes fewer chunks or none, and the caller
// never waits on work that nobody has claimed.

// parTask is one parallel step: work(w) runs worker w's share.
type parTask interface{ work(w int) }

// parMsg asks a pool worker for share w of t, in use gen of the join j.
type parMsg struct {
	t   parTask
	w   int
	j   *join
	gen uint64
}

// join is how a caller of runWorkers waits for the shares it sent to the pool. Each share
// is claimed once: by the worker that receives its message, or by the caller, which takes
// back every share nobody has started once its own is done. So the caller never waits for
// a worker that has not started: a pool worker that slept (no step for spinWait) takes from
// 1 to 10 ms to run again on a virtual machine, and in a Qwen3-0.6B training step that
// happened about 75 times, the caller waiting out the wake-up each time. left counts the
// shares claimed by workers and still running (polled while spinning); wg is the blocking
// fallback.
type join struct {
	wg   sync.WaitGroup
	left atomic.Int32
	gen  uint64 // the current use (the caller's alone); messages of earlier uses are stale
	// claimed[w] is the last use in which share w was claimed. A slice that grows is
	// replaced, its slots starting at the previous use, so a stale message never claims.
	claimed atomic.Pointer[[]atomic.Uint64]
}

// begin starts a new use of j for shares 1..workers-1 and returns its number.
func (j *join) begin(workers int) uint64 {
	j.gen++
	if c := j.claimed.Load(); c == nil || len(*c) < workers {
		s := make([]atomic.Uint64, workers)
		for i := range s {
			s[i].Store(j.gen - 1)
		}
		j.claimed.Store(&s)
	}
	j.left.Store(int32(workers - 1))
	j.wg.Add(workers - 1)
	return j.gen
}

// run runs share w of t in use gen if nobody has claimed it yet, and reports it done.
func (j *join) run(t parTask, w int, gen uint64) {
	c := &(*j.claimed.Load())[w]
	if old := c.Load(); old >= gen || !c.CompareAndSwap(old, gen) {
		return // taken, or a message of an earlier use
	}
	t.work(w)
	j.left.Add(-1)
	j.wg.Done()
}

var gemmWorkers struct {
	mu sync.Mutex
	n  int // goroutines started
	ch chan parMsg
}

// spinWait is how long an idle pool worker polls for the next step, and a caller polls for
// its workers to finish, before blocking. Kernels run in quick succession (one step of a
// GEMM after another, one projection after another), and a blocked goroutine's thread
// sleeps: waking it again costs far more than the gap between steps on a virtual machine
// (the other vCPU halts and the host must reschedule it; measured: the second worker of a
// 384x1024x3072 GEMM idle for 17% of the call). OpenMP runtimes spin in the same way. The
// spin is bounded, so an idle process stops burning CPU within spinWait.
const spinWait = 500 * time.Microsecond

// runWorkers runs t.work(0..workers-1): worker 0 on the calling goroutine,
// the others on the pool (or on the caller, when no pool worker has started
// them by the time its own share is done), and returns when all are done.
func runWorkers(t parTask, workers int, j *join) {
	if workers <= 1 {
		t.work(0)
		return
	}
	p := &gemmWorkers
	p.mu.Lock()
	if p.ch == nil {
		p.ch = make(chan parMsg, 256)
	}
	for ; p.n < workers-1; p.n++ {
		go poolWorker(p.ch)
	}
	ch := p.ch
	p.mu.Unlock()
	gen := j.begin(workers)
	for w := 1; w < workers; w++ {
		ch <- parMsg{t: t, w: w, j: j, gen: gen}
	}
	t.work(0)
	for w := 1; w < workers; w++ {
		j.run(t, w, gen)
	}
	// Wait for the workers, running steps still queued meanwhile (ours, stale, or another
	// caller's): a step never waits in the channel for a worker that is itself waiting, so
	// kernels may nest (a ParallelFor body calling a parallel GEMM) without deadlock.
	for j.left.Load() > 0 {
		spin(func() bool {
			select {
			case msg := <-ch:
				msg.run()
			default:
			}
			return j.left.Load() == 0
		})
		if len(ch) == 0 {
			break // our steps are running: block
		}
	}
	j.wg.Wait()
}

// run runs the share a message asks for, unless it is taken or stale.
func (msg parMsg) run() { msg.j.run(msg.t, msg.w, msg.gen) }

// poolWorker runs the steps sent on ch, polling for the next one for spinWait before it
// blocks on the channel.
func poolWorker(ch chan parMsg) {
	for msg := range ch {
		for {
			msg.run()
			var ok bool
			spin(func() bool {
				select {
				case msg = <-ch:
					ok = true
				default:
				}
				return ok
			})
			if !ok {
				break
			}
		}
	}
}

// spin polls done until it reports true or spinWait has passed.
func spin(done func() bool) {
	start := time.Now()
	for i := 1; !done(); i++ {
		if i%64 == 0 && time.Since(start) > spinWait {
			return
		}
	}
}

// Kinds of gemmTask.
const (
	taskPackB   = iota // pack the shared op(B) block, chunks of panels
	taskColumns        // per row block of op(A): chunks of its column panels
	taskRows           // chunks of row panels against all column panels
)

// gemmTask is the state of one parallel step of gemmBlocked (pooled).
type gemmTask struct {
	kind  int
	g     gemmBlock
	b     bMat
	mpan  int
	npan  int
	per   int   // row panels per row block (taskColumns)
	chunk int   // panels claimed at a time (taskPackB)
	bnd   []int // chunk c (claimed by index) is panels [bnd[c], bnd[c+1]) (guidedBounds)
	next  atomic.Int64
	ctrs  []atomic.Int64 // per row block (taskColumns)
	join  join
}

var gemmTaskPool = sync.Pool{New: func() any { return new(gemmTask) }}

func (t *gemmTask) work(int) {
	g := &t.g
	switch t.kind {
	case taskPackB:
		for {
			j := int(t.next.Add(int64(t.chunk))) - t.chunk
			if j >= t.npan {
				return
			}
			packBBlock(g.kn, t.b, g.n, g.jc, g.pc, g.kc, j, min(t.npan, j+t.chunk), g.bp)
		}
	case taskColumns:
		mr, nr := g.kn.mr, g.kn.nr
		abuf := packPool.get(t.per * mr * g.kc)
		tile := getF32(mr * nr)
		for b := range t.ctrs {
			ctr := &t.ctrs[b]
			if ctr.Load() >= int64(len(t.bnd)-1) {
				continue
			}
			ic, icEnd := b*t.per, min(t.mpan, (b+1)*t.per)
			g.packA(ic, icEnd, abuf.s)
			for {
				c := int(ctr.Add(1)) - 1
				if c >= len(t.bnd)-1 {
					break
				}
				j, jEnd := t.bnd[c], t.bnd[c+1]
				g.tiles(ic, icEnd, j, jEnd, abuf.s, tile.s)
			}
		}
		putF32(tile)
		packPool.put(abuf)
	case taskRows:
		mr, nr := g.kn.mr, g.kn.nr
		abuf := packPool.get((t.bnd[1] - t.bnd[0]) * mr * g.kc) // the first chunk is the largest
		tile := getF32(mr * nr)
		for {
			c := int(t.next.Add(1)) - 1
			if c >= len(t.bnd)-1 {
				break
			}
			i, iEnd := t.bnd[c], t.bnd[c+1]
			g.packA(i, iEnd, abuf.s)
			g.tiles(i, iEnd, 0, t.npan, abuf.s, tile.s)
		}
		putF32(tile)
		packPool.put(abuf)
	}
}

// packBBlockParallel is packBBlock over all npan panels of g's block on
// `workers` goroutines.
func packBBlockParallel(g *gemmBlock, b bMat, npan, workers int) {
	t := gemmTaskPool.Get().(*gemmTask)
	t.kind, t.g, t.b, t.npan = taskPackB, *g, b, npan
	// A panel is worth ~ nr*kc copies; claim ~8k floats at a time.
	t.chunk = max(1, min((1<<13)/(g.kn.nr*g.kc), npan/(2*workers)))
	t.next.Store(0)
	runWorkers(t, workers, &t.join)
	t.release()
}

// runParallel computes all mpan x npan tiles of the block on `workers`
// goroutines. With more column than row panels, every worker walks the row
// blocks of op(A) in order, packs each block it still finds work in, and
// claims chunks of that block's column panels; otherwise workers claim chunks
// of row panels, pack them and run them against every column panel.
func (g *gemmBlock) runParallel(workers, mpan, npan int) {
	t := gemmTaskPool.Get().(*gemmTask)
	t.g, t.mpan, t.npan = *g, mpan, npan
	mcp := g.kn.mc / g.kn.mr
	if npan >= mpan {
		nblk := (mpan + mcp - 1) / mcp
		t.kind = taskColumns
		t.per = (mpan + nblk - 1) / nblk
		t.bnd = guidedBounds(npan, workers, npan, t.bnd)
		if cap(t.ctrs) < nblk {
			t.ctrs = make([]atomic.Int64, nblk)
		}
		t.ctrs = t.ctrs[:nblk]
		for i := range t.ctrs {
			t.ctrs[i].Store(0)
		}
	} else {
		t.kind = taskRows
		t.bnd = guidedBounds(mpan, workers, mcp, t.bnd)
		t.next.Store(0)
	}
	runWorkers(t, workers, &t.join)
	t.release()
}

// guidedBounds cuts n panels into chunks for the workers, largest first (guided
// self-scheduling): each chunk is 1/(2·workers) of the panels left, at least one and at most
// most, so that a worker that starts late still finds work, and workers finish within about
// one panel of each other rather than half a chunk of an even split (a caller waited 130 µs
// on average at the end of each parallel step of a Qwen3-0.6B training step with 8 even
// chunks: 0.28 s a step). It returns the chunk starts in b (reused), then n.
func guidedBounds(n, workers, most int, b []int) []int {
	b = append(b[:0], 0)
	for p := 0; p < n; {
		p += min(most, max(1, (n-p+2*workers-1)/(2*workers)))
		b = append(b, p)
	}
	return b
}

// release drops the task's references to the caller's matrices and returns
// it to the pool.
func (t *gemmTask) release() {
	t.g = gemmBlock{}
	t.b = bMat{}
	gemmTaskPool.Put(t)
}
