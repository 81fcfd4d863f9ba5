package kern

import (
	"fmt"
	"math"

	"sync/atomic"
)

// AdamW holds torch.optim.AdamW hyper-parameters (decoupled weight decay).
type AdamW struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
}

// AdamWTensor is one parameter tensor of a multi-tensor AdamW step: its values P, its
// gradient G and its moment buffers M and V (m and v start at zero), all of one length.
type AdamWTensor struct {
	P, G, M, V []float32
}

// AdamWPass are the optional parts of a multi-tensor AdamW step (AdamW.StepTensors).
type AdamWPass struct {
	// GradScale multiplies every gradient element (in float32, before the update) when it
	// is neither 0 nor 1: the coefficient of gradient clipping. The stored gradient is not
	// changed by it.
	GradScale float32
	// ZeroGrad clears the gradients in the same pass, after each element is read.
	ZeroGrad bool
	// Threads caps the goroutines of the pass (0: all processors).
	Threads Threads
}

// Step applies one AdamW update to parameters p with gradient g and moment
// buffers m, v (all the same length; m and v start at zero), for step t >= 1.
// It follows torch's single-tensor implementation operation by operation in
// float32, with python-float scalars computed in float64:
//
//	p *= 1 - lr*wd
//	m = m + (1-β1)*(g - m)            (lerp)
//	v = v*β2 + (1-β2)*g*g
//	p += (-lr/(1-β1^t)) * m / (sqrt(v)/sqrt(1-β2^t) + eps)
//
// It is StepTensors with one tensor.
func (o AdamW) Step(p, g, m, v []float32, step int) {
	o.StepTensors([]AdamWTensor{{P: p, G: g, M: m, V: v}}, step, AdamWPass{})
}

// adamwConsts are the float32 constants of one AdamW step, in the order the
// assembly kernels read them.
type adamwConsts struct {
	decay   float32 // 1 - lr*wd (exactly 1 without weight decay: p*1 == p)
	scale   float32 // gradient scale (1: none)
	w1      float32 // 1 - β1, the lerp weight
	b2      float32 // β2
	w2      float32 // 1 - β2
	bc2sqrt float32 // sqrt(1 - β2^t)
	eps     float32
	negStep float32 // -lr / (1 - β1^t)
	omw1    float32 // float32(1 - w1), for torch's lerp with a weight >= 0.5
	lerpHi  bool    // w1 >= 0.5: m = g - (g-m)*(1-w1)
}

func (o AdamW) consts(step int, scale float32) adamwConsts {
	t := float64(step)
	bc1 := 1 - math.Pow(o.Beta1, t)
	bc2 := 1 - math.Pow(o.Beta2, t)
	if scale == 0 {
		scale = 1
	}
	w1 := float32(1 - o.Beta1)
	return adamwConsts{
		decay:   float32(1 - o.LR*o.WeightDecay),
		scale:   scale,
		w1:      w1,
		b2:      float32(o.Beta2),
		w2:      float32(1 - o.Beta2),
		bc2sqrt: float32(math.Sqrt(bc2)),
		eps:     float32(o.Eps),
		negStep: float32(-(o.LR / bc1)),
		omw1:    1 - w1,
		lerpHi:  !(w1 < 0.5),
	}
}

// adamwChunkFunc updates p, m, v (and clears g when zero) over len(p)
// elements, all slices of that length, and returns Σ float64(g)² of the
// gradient as read (before scaling).
type adamwChunkFunc func(p, g, m, v []float32, c *adamwConsts, zero bool) float64

// adamwK is the chunk kernel: assembly where the CPU has it (set at init),
// else adamwGo. sumSqK is the same for the read-only Σ x².
var (
	adamwK = adamwGo
	sumSqK = sumSqGo
)

// namedAdamW is one implementation of the chunk kernels, for tests and benchmarks.
type namedAdamW struct {
	name  string
	step  adamwChunkFunc
	sumSq func(x []float32) float64
}

// adamwKernels lists the implementations this CPU can run, the portable one first.
var adamwKernels = []namedAdamW{{"go", adamwGo, sumSqGo}}

// adamwGo is the portable chunk kernel and the reference for the assembly
// ones. Every float32 operation is written out with an explicit conversion
// so that no compiler may contract a multiply and an add into an FMA.
func adamwGo(p, g, m, v []float32, c *adamwConsts, zero bool) float64 {
	n := len(p)
	g, m, v = g[:n], m[:n], v[:n]
	decay, scale, w1, b2, w2 := c.decay, c.scale, c.w1, c.b2, c.w2
	bc2sqrt, eps, negStep, omw1, lerpHi := c.bc2sqrt, c.eps, c.negStep, c.omw1, c.lerpHi
	var s float64
	for i := range p {
		g0 := g[i]
		s += float64(g0) * float64(g0)
		gi := float32(g0 * scale)
		pi := float32(p[i] * decay)
		var mi float32
		if !lerpHi { // torch's lerp: self + w*(end-self) for w < 0.5
			mi = m[i] + float32(w1*float32(gi-m[i]))
		} else {
			mi = gi - float32(float32(gi-m[i])*omw1)
		}
		vi := float32(v[i]*b2) + float32(float32(w2*gi)*gi)
		denom := float32(float32(math.Sqrt(float64(vi)))/bc2sqrt) + eps
		pi += float32(float32(negStep*mi) / denom)
		p[i], m[i], v[i] = pi, mi, vi
		if zero {
			g[i] = 0
		}
	}
	return s
}

// sumSqGo returns Σ float64(x)² with four partial sums.
func sumSqGo(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a, b, c, d := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += d * d
	}
	for ; i < len(x); i++ {
		a := float64(x[i])
		s0 += a * a
	}
	return (s0 + s1) + (s2 + s3)
}

// adamwChunk is the number of elements of one work item of the multi-tensor
// passes: 32 Ki elements, 896 KiB of traffic for a step. Chunks start at
// multiples of it within each tensor, so the partial sums (and so the norm)
// do not depend on the number of workers or their scheduling.
const adamwChunk = 1 << 15

// span is one work item: elements [lo,hi) of tensor t.
type span struct{ t, lo, hi int }

// spans splits tensors of the given lengths into work items.
func spans(lens []int) []span {
	var w []span
	for t, n := range lens {
		for lo := 0; lo < n; lo += adamwChunk {
			w = append(w, span{t, lo, min(lo+adamwChunk, n)})
		}
	}
	return w
}

// runSpans calls fn on every work item, on up to workers goroutines of the worker pool that
// take items in turn, and returns the sum of fn's results in work-list order
// (deterministic). total is the number of elements, to run small jobs inline.
func runSpans(workers int, w []span, total int, fn func(s span) float64) float64 {
	t := &spanTask{w: w, fn: fn, sums: make([]float64, len(w))}
	workers = min(workers, len(w))
	if total <= 2*adamwChunk {
		workers = 1
	}
	runWorkers(t, workers, &t.join)
	var s float64
	for _, x := range t.sums {
		s += x
	}
	return s
}

// spanTask is a runSpans call: every worker claims the next item until none is left.
type spanTask struct {
	w    []span
	fn   func(s span) float64
	sums []float64
	next atomic.Int64
	join join
}

func (t *spanTask) work(int) {
	for {
		i := int(t.next.Add(1) - 1)
		if i >= len(t.w) {
			return
		}
		t.sums[i] = t.fn(t.w[i])
	}
}

// StepTensors applies one AdamW update (as Step, element for element bit-identical) to
// every tensor in one fused pass, for step >= 1: each element of P, G, M, V is read once and
// P, M, V written once (and G cleared when pass.ZeroGrad). The work is split into chunks
// over all tensors together and spread over up to pass.Threads goroutines.
//
// It returns Σ g² over all gradient elements as read (before pass.GradScale), accumulated in
// float64 (in an order fixed by the tensor lengths alone); its square root is the global
// gradient norm. With pass.GradScale = c ≠ 1 each gradient element is multiplied by c in
// float32 before the update, as torch's clip_grad_norm_ does in place; the stored gradient
// is left unscaled.
func (o AdamW) StepTensors(ts []AdamWTensor, step int, pass AdamWPass) float64 {
	if step < 1 {
		panic(fmt.Sprintf("kern: adamw: step %d, want >= 1", step))
	}
	lens := make([]int, len(ts))
	total := 0
	for i, t := range ts {
		n := len(t.P)
		if len(t.G) != n || len(t.M) != n || len(t.V) != n {
			panic(fmt.Sprintf("kern: adamw: tensor %d: len(p)=%d len(g)=%d len(m)=%d len(v)=%d", i, n, len(t.G), len(t.M), len(t.V)))
		}
		lens[i] = n
		total += n
	}
	c := o.consts(step, pass.GradScale)
	k := adamwK
	if c.lerpHi {
		k = adamwGo // the assembly kernels do torch's lerp for weights < 0.5 only
	}
	zero := pass.ZeroGrad
	return runSpans(pass.Threads.workers(), spans(lens), total, func(s span) float64 {
		t := &ts[s.t]
		return k(t.P[s.lo:s.hi], t.G[s.lo:s.hi], t.M[s.lo:s.hi], t.V[s.lo:s.hi], &c, zero)
	})
}

// SumSquares returns Σ float64(x)² over all elements of all xs, in one parallel read-only
// pass (float64 partial sums in an order fixed by the lengths alone).
func (th Threads) SumSquares(xs [][]float32) float64 {
	lens := make([]int, len(xs))
	total := 0
	for i, x := range xs {
		lens[i] = len(x)
		total += len(x)
	}
	return runSpans(th.workers(), spans(lens), total, func(s span) float64 {
		return sumSqK(xs[s.t][s.lo:s.hi])
	})
}
