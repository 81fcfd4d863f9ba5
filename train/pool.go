package train

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/valora-go/valora/internal/kern"
)

// bufPool recycles the float32 buffers of the training graph's values and of the ops' saved
// state, so that a step of a batch shape seen before allocates (almost) nothing. It belongs
// to one Engine and is used by one goroutine at a time.
//
// A value's buffer is handed out with the number of ops that will read it (its consumers in
// the graph); each consumer calls consumed after its Do, and the buffer goes back to the free
// lists when the last one has read it, so a buffer lives only as long as the schedule needs
// it. Buffers the run still holds when it ends (after an error, say) go back in releaseAll,
// which also trims the idle buffers: what the latest run used at most at once, length by
// length, is kept, plus idle buffers of other lengths up to half as many bytes (least
// recently used dropped first), so that batches of varied shapes do not hoard memory.
type bufPool struct {
	free   map[int][]*buf              // idle buffers by length
	byHead map[*tensor.Dense]headerRef // matrix headers of pooled and registered buffers
	all    []*buf                      // every buffer the pool holds, idle or live
	run    int                         // runs started, for least-recently-used trimming

	// per length: buffers live now, the most live at once in the current run, the last run
	// that asked for the length
	live, peak map[int]int
	lastRun    map[int]int

	liveBytes, peakBytes int64 // peakBytes: the most bytes live at once since newPool

	// threads caps the kernels' goroutines in the current step (set by the engine; the ops
	// read it through base.th).
	threads kern.Threads
}

// buf is one pooled buffer and the matrix headers made over it.
type buf struct {
	data     []float32
	heads    []*tensor.Dense // one per shape it has been used with
	uses     int             // consumers left to read the live value
	live     bool
	external bool // a graph input's backing: looked up, never recycled
}

type headerRef struct {
	b          *buf
	rows, cols int
}

func newPool() *bufPool {
	return &bufPool{free: map[int][]*buf{}, byHead: map[*tensor.Dense]headerRef{},
		live: map[int]int{}, peak: map[int]int{}, lastRun: map[int]int{}}
}

// begin starts a run (a forward and backward pass).
func (p *bufPool) begin() {
	p.run++
	clear(p.peak)
}

// get takes an idle buffer of length n, or allocates one. Its contents are arbitrary.
func (p *bufPool) get(n int) *buf {
	var b *buf
	if l := p.free[n]; len(l) > 0 {
		b = l[len(l)-1]
		l[len(l)-1] = nil
		p.free[n] = l[:len(l)-1]
	} else {
		b = &buf{data: make([]float32, n)}
		p.all = append(p.all, b)
	}
	b.live, b.uses = true, 0
	p.live[n]++
	p.peak[n] = max(p.peak[n], p.live[n])
	p.lastRun[n] = p.run
	p.liveBytes += 4 * int64(n)
	p.peakBytes = max(p.peakBytes, p.liveBytes)
	return b
}

// put returns a live buffer to the free lists.
func (p *bufPool) put(b *buf) {
	if b == nil || !b.live || b.external {
		return
	}
	n := len(b.data)
	b.live, b.uses = false, 0
	p.live[n]--
	p.liveBytes -= 4 * int64(n)
	p.free[n] = append(p.free[n], b)
}

// header returns b's matrix header of shape [rows, cols], made once per shape.
func (p *bufPool) header(b *buf, rows, cols int) *tensor.Dense {
	for _, h := range b.heads {
		if r := p.byHead[h]; r.rows == rows && r.cols == cols {
			return h
		}
	}
	h := tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(b.data))
	b.heads = append(b.heads, h)
	p.byHead[h] = headerRef{b, rows, cols}
	return h
}

// mat hands out a [rows, cols] matrix value that uses ops will read (0: none; it is then
// recycled at the end of the run). Its contents are arbitrary: the op must overwrite them.
func (p *bufPool) mat(rows, cols, uses int) *tensor.Dense {
	b := p.get(rows * cols)
	b.uses = uses
	return p.header(b, rows, cols)
}

// scratch hands out a buffer of n values that its owner gives back with put.
func (p *bufPool) scratch(n int) *buf { return p.get(n) }

// register makes the backing of a graph input known to data (never recycled).
func (p *bufPool) register(t *tensor.Dense) {
	s := t.Shape()
	b := &buf{data: t.Data().([]float32), heads: []*tensor.Dense{t}, external: true}
	p.byHead[t] = headerRef{b, s[0], s[1]}
}

// unregister forgets graph inputs registered by register.
func (p *bufPool) unregister(ts ...*tensor.Dense) {
	for _, t := range ts {
		delete(p.byHead, t)
	}
}

// data returns the float32 backing of a matrix value and its shape; for pooled and
// registered values without the allocation of tensor.Dense.Data.
func (p *bufPool) data(v G.Value) ([]float32, int, int) {
	if t, ok := v.(*tensor.Dense); ok && p != nil {
		if r, ok := p.byHead[t]; ok {
			return r.b.data[:r.rows*r.cols], r.rows, r.cols
		}
	}
	return data(v)
}

// steal makes a pooled value that has one reader left (the caller) the caller's own value,
// read by uses ops, and reports whether it did. With no pool or any other value it returns
// nil, false.
func (p *bufPool) steal(v G.Value, uses int) (*tensor.Dense, bool) {
	t, ok := v.(*tensor.Dense)
	if !ok || p == nil {
		return nil, false
	}
	r, ok := p.byHead[t]
	if !ok || !r.b.live || r.b.external || r.b.uses != 1 {
		return nil, false
	}
	r.b.uses = uses
	return t, true
}

// consumed records that one consumer has read each of the values in; a pooled value read by
// all its consumers goes back to the free lists.
func (p *bufPool) consumed(in ...G.Value) {
	for _, v := range in {
		t, ok := v.(*tensor.Dense)
		if !ok {
			continue
		}
		r, ok := p.byHead[t]
		if !ok || !r.b.live || r.b.external {
			continue
		}
		if r.b.uses--; r.b.uses <= 0 {
			p.put(r.b)
		}
	}
}

// releaseAll returns every buffer still live to the free lists and trims the idle ones (see
// bufPool).
func (p *bufPool) releaseAll() {
	for _, b := range p.all {
		p.put(b)
	}
	var keep int64 // the working set of the latest run
	for n, c := range p.peak {
		keep += 4 * int64(n) * int64(c)
	}
	budget := keep + keep/2
	// idle buffers beyond the latest run's need, least recently used lengths first
	type extra struct {
		n, count, last int
	}
	var extras []extra
	var held int64
	for n, l := range p.free {
		need := p.peak[n]
		held += 4 * int64(n) * int64(min(len(l), need))
		if len(l) > need {
			extras = append(extras, extra{n, len(l) - need, p.lastRun[n]})
		}
	}
	slices.SortFunc(extras, func(a, b extra) int {
		if a.last != b.last {
			return b.last - a.last // most recent first: those are kept
		}
		return b.n - a.n
	})
	dropped := map[*buf]bool{}
	for _, x := range extras {
		for i := 0; i < x.count; i++ {
			sz := 4 * int64(x.n)
			if held+sz <= budget {
				held += sz
				continue
			}
			l := p.free[x.n]
			b := l[len(l)-1]
			l[len(l)-1] = nil
			p.free[x.n] = l[:len(l)-1]
			dropped[b] = true
			for _, h := range b.heads {
				delete(p.byHead, h)
			}
		}
		if len(p.free[x.n]) == 0 {
			delete(p.free, x.n)
		}
	}
	if len(dropped) > 0 {
		p.all = slices.DeleteFunc(p.all, func(b *buf) bool { return dropped[b] })
	}
	for n, c := range p.live {
		if c == 0 && len(p.free[n]) == 0 {
			delete(p.live, n)
			delete(p.lastRun, n)
		}
	}
}

// idleBytes is the size of the idle buffers.
func (p *bufPool) idleBytes() int64 {
	var s int64
	for n, l := range p.free {
		s += 4 * int64(n) * int64(len(l))
	}
	return s
}

func (p *bufPool) String() string {
	return fmt.Sprintf("pool: %d buffers, %.1f MiB idle, %.1f MiB live, peak %.1f MiB",
		len(p.all), float64(p.idleBytes())/(1<<20), float64(p.liveBytes)/(1<<20), float64(p.peakBytes)/(1<<20))
}

// hold sets the readers left of a live pooled value t to uses (0: it goes back at once): a
// value handed from one graph of a step to the next.
func (p *bufPool) hold(t *tensor.Dense, uses int) {
	r, ok := p.byHead[t]
	if !ok || !r.b.live || r.b.external {
		return
	}
	r.b.uses = uses
	if uses <= 0 {
		p.put(r.b)
	}
}
