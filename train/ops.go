package train

// Custom gorgonia operations for the training graph. Every forward op calls the same kernel
// (package internal/kern) as the inference pass; every backward op is hand-written against a
// kernel checked by finite differences in that package. Frozen weights are referenced from the
// op, never copied into the graph; only the LoRA matrices are graph inputs.
//
// All values are float32 matrices [rows, cols] (*tensor.Dense), except the loss and the
// sinks, which are float32 scalars. Ops take their outputs and scratch from the engine's
// buffer pool (pool.go) in Do, and report the values they have read (done), so that a value's
// buffer is recycled as soon as its last consumer has run and a step of a shape seen before
// allocates nothing. No op implements UsePreallocDo or overwrites an input, so the tape
// machine never writes into a register's old value (which may already be recycled).

import (
	"fmt"
	"hash"
	"hash/fnv"
	"slices"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/valora-go/valora/internal/kern"
)

// opType says what an op's gorgonia type is built from: float32 matrices in, a matrix or a
// scalar out, optionally a scalar as the last input. Types are built afresh on every call
// because gorgonia recycles the function types it is given.
type opType struct {
	mats         int  // matrix inputs
	scalarIn     bool // one more, scalar, input
	scalarResult bool
}

var (
	matFn1         = opType{mats: 1}
	matFn2         = opType{mats: 2}
	matFn3         = opType{mats: 3}
	matFn4         = opType{mats: 4}
	toScalar       = opType{mats: 1, scalarResult: true}
	matScalarToMat = opType{mats: 1, scalarIn: true}
)

func (t opType) build() hm.Type {
	a := hm.TypeVariable('a')
	var ts []hm.Type
	for range t.mats {
		ts = append(ts, &G.TensorType{Dims: 2, Of: a})
	}
	if t.scalarIn {
		ts = append(ts, a)
	}
	if t.scalarResult {
		ts = append(ts, a)
	} else {
		ts = append(ts, &G.TensorType{Dims: 2, Of: a})
	}
	return hm.NewFnType(ts...)
}

// newMat allocates a zeroed float32 [rows, cols] tensor.
func newMat(rows, cols int) *tensor.Dense {
	return tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(make([]float32, rows*cols)))
}

// data returns the float32 backing of a matrix value, and its shape.
func data(v G.Value) ([]float32, int, int) {
	t := v.(*tensor.Dense)
	s := t.Shape()
	return t.Data().([]float32), s[0], s[1]
}

// base supplies the parts of gorgonia's Op interface shared by every op here.
type base struct {
	name  string
	arity int
	typ   opType
	// shape computes the output shape from the input shapes (graph construction time).
	shape func(in []tensor.Shape) tensor.Shape
	// pool supplies the buffers (nil: plain allocation); uses is the number of ops that read
	// this op's value. Both are set when the graph is complete (finish).
	pool *bufPool
	uses int
}

func newBase(name string, arity int, typ opType, shape func([]tensor.Shape) tensor.Shape) base {
	return base{name: name, arity: arity, typ: typ, shape: shape}
}

// pooled is implemented by every op here (through base).
type pooled interface {
	setPool(p *bufPool, uses int)
}

func (b *base) setPool(p *bufPool, uses int) { b.pool, b.uses = p, uses }

// out hands out the op's [rows, cols] value (contents arbitrary: the op overwrites them).
func (b *base) out(rows, cols int) *tensor.Dense { return b.outUses(rows, cols, b.uses) }

// outUses is out for a value read by uses ops.
func (b *base) outUses(rows, cols, uses int) *tensor.Dense {
	if b.pool == nil {
		return newMat(rows, cols)
	}
	return b.pool.mat(rows, cols, uses)
}

// th is the kernel goroutine cap of the step the op runs in.
func (b *base) th() kern.Threads {
	if b.pool == nil {
		return 0
	}
	return b.pool.threads
}

// mat returns a matrix value's backing and shape.
func (b *base) mat(v G.Value) ([]float32, int, int) { return b.pool.data(v) }

// done records that the op has read its inputs (each distinct value once).
func (b *base) done(in []G.Value) {
	if b.pool == nil {
		return
	}
	for i, v := range in {
		if !slices.Contains(in[:i], v) {
			b.pool.consumed(v)
		}
	}
}

// scratch hands out n values of saved state, given back with drop.
func (b *base) scratch(n int) *buf {
	if b.pool == nil {
		return &buf{data: make([]float32, n), live: true}
	}
	return b.pool.scratch(n)
}

// drop gives back scratch or a value the op owns.
func (b *base) drop(x *buf) {
	if b.pool != nil && x != nil {
		b.pool.put(x)
	}
}

// dropValue gives back a matrix value nobody will read.
func (b *base) dropValue(t *tensor.Dense) {
	if b.pool != nil && t != nil {
		if r, ok := b.pool.byHead[t]; ok {
			b.pool.put(r.b)
		}
	}
}

func (b *base) Arity() int            { return b.arity }
func (b *base) Type() hm.Type         { return b.typ.build() }
func (b *base) ReturnsPtr() bool      { return false }
func (b *base) CallsExtern() bool     { return false }
func (b *base) OverwritesInput() int  { return -1 }
func (b *base) String() string        { return b.name }
func (b *base) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s@%p", b.name, b) }
func (b *base) Hashcode() uint32      { h := fnv.New32a(); b.WriteHash(h); return h.Sum32() }
func (b *base) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	shapes := make([]tensor.Shape, len(in))
	for i, d := range in {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, fmt.Errorf("%s: input %d has no shape", b.name, i)
		}
		shapes[i] = s
	}
	return b.shape(shapes), nil
}

func same(i int) func([]tensor.Shape) tensor.Shape {
	return func(in []tensor.Shape) tensor.Shape { return in[i].Clone() }
}

func rowsBy(cols int) func([]tensor.Shape) tensor.Shape {
	return func(in []tensor.Shape) tensor.Shape { return tensor.Shape{in[0][0], cols} }
}

// apply adds op to the graph over children.
func apply(op G.Op, children ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(op, children...)
	if err != nil {
		return nil, fmt.Errorf("train: graph: %v: %w", op, err)
	}
	return n, nil
}

// ---- frozen projection: y = x Wᵀ -------------------------------------------------------

type linearOp struct {
	base
	w *kern.Weight
}

func newLinear(name string, w *kern.Weight) *linearOp {
	return &linearOp{newBase(name, 1, matFn1, rowsBy(w.Rows)), w}
}

func (o *linearOp) Do(in ...G.Value) (G.Value, error) {
	x, n, _ := o.mat(in[0])
	y := o.out(n, o.w.Rows)
	yd, _, _ := o.mat(y)
	o.th().Linear(yd, x, n, o.w, false)
	o.done(in)
	return y, nil
}

func (o *linearOp) DiffWRT(int) []bool { return []bool{true} }

func (o *linearOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&linearTOp{newBase(o.name+"ᵀ", 1, matFn1, rowsBy(o.w.Cols)), o.w}, grad)
	return G.Nodes{dx}, err
}

// linearTOp is the backward of linearOp: dx = dy W.
type linearTOp struct {
	base
	w *kern.Weight
}

func (o *linearTOp) Do(in ...G.Value) (G.Value, error) {
	dy, n, _ := o.mat(in[0])
	dx := o.out(n, o.w.Cols)
	dd, _, _ := o.mat(dx)
	o.th().LinearBackwardInput(dd, dy, n, o.w, false)
	o.done(in)
	return dx, nil
}

// ---- LoRA: y = scale · (x Aᵀ) Bᵀ ----------------------------------------------------------

// loraState carries what the forward pass computed (t = x Aᵀ, until dB has used it) and what
// the first backward op computes (u = dy B, until the uUses ops dx and dA have used it) to the
// other backward ops of the same step.
type loraState struct {
	scale        float32
	t, u         *buf
	ver, uVer    int
	uUses, uLeft int
	scaledU      bool // u holds scale·(dy B) (the fused projection's backward)
	noGrad       bool // no backward op runs: t is not kept (noBackward)
}

// keepT keeps t for the backward op dB, or gives it back when there is none.
func (st *loraState) keepT(o *base) {
	if st.noGrad {
		o.drop(st.t)
		st.t = nil
	}
}

type loraOp struct {
	base
	st *loraState
}

func newLoRA(name string, out int, scale float32) *loraOp {
	return &loraOp{newBase(name, 3, matFn3, rowsBy(out)), &loraState{scale: scale}}
}

func (o *loraOp) Do(in ...G.Value) (G.Value, error) {
	x, n, k := o.mat(in[0])
	a, r, _ := o.mat(in[1])
	b, out, _ := o.mat(in[2])
	st := o.st
	st.ver++
	o.drop(st.t)
	st.t = o.scratch(n * r)
	o.th().Gemm(false, true, n, r, k, 1, x, k, a, k, 0, st.t.data, r)
	y := o.out(n, out)
	yd, _, _ := o.mat(y)
	o.th().Gemm(false, true, n, out, r, st.scale, st.t.data, r, b, r, 0, yd, out)
	st.keepT(&o.base)
	o.done(in)
	return y, nil
}

func (o *loraOp) noBackward() { o.st.noGrad = true }

func (o *loraOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (o *loraOp) SymDiff(inputs G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return o.symDiffNeeded(inputs, out, grad, []bool{true, true, true})
}

// symDiffNeeded is SymDiff building only the gradients marked in need (nil for the others).
func (o *loraOp) symDiffNeeded(inputs G.Nodes, _, grad *G.Node, need []bool) (G.Nodes, error) {
	return loraGrads(o.name, o.st, nil, inputs, grad, need)
}

// loraGrads builds the backward ops of a LoRA branch (w nil) or of a fused adapted
// projection (w its frozen weight; dx then includes dy W) over inputs x, A, B: dx if need[0],
// dA and dB.
func loraGrads(name string, st *loraState, w *kern.Weight, inputs G.Nodes, grad *G.Node, need []bool) (G.Nodes, error) {
	x, a, b := inputs[0], inputs[1], inputs[2]
	in, r, out := x.Shape()[1], a.Shape()[0], b.Shape()[0]
	var dx *G.Node
	var err error
	if need[0] {
		if dx, err = apply(&loraGradOp{newBase(name+".dx", 3, matFn3, rowsBy(in)), st, 'x', w, nil}, grad, a, b); err != nil {
			return nil, err
		}
	}
	da, err := apply(&loraGradOp{newBase(name+".dA", 3, matFn3, func([]tensor.Shape) tensor.Shape { return tensor.Shape{r, in} }), st, 'A', nil, nil}, grad, x, b)
	if err != nil {
		return nil, err
	}
	db, err := apply(&loraGradOp{newBase(name+".dB", 1, matFn1, func([]tensor.Shape) tensor.Shape { return tensor.Shape{out, r} }), st, 'B', nil, nil}, grad)
	return G.Nodes{dx, da, db}, err
}

// loraGradOp computes one of dx = scale·(dy B) A (plus dy W for a fused projection: one
// stacked product), dA = scale·(dy B)ᵀ x, dB = scale·dyᵀ t.
type loraGradOp struct {
	base
	st   *loraState
	what byte
	w    *kern.Weight // dx of a fused projection: its frozen weight
	// into, for dA and dB, is the trainer's gradient buffer: the product is added straight
	// into it (its sink then only marks the value read), so no [r, in] or [out, r] gradient is
	// written and added again.
	into []float32
}

// gradB returns u = dy B [n, r] (scale·dy B when st.scaledU), computed once per step.
func (o *loraGradOp) gradB(dy []float32, n, out int, b []float32, r int) []float32 {
	st := o.st
	if st.uVer != st.ver {
		o.drop(st.u)
		st.u = o.scratch(n * r)
		alpha := float32(1)
		if st.scaledU {
			alpha = st.scale
		}
		o.th().Gemm(false, false, n, r, out, alpha, dy, out, b, r, 0, st.u.data, r)
		st.uVer, st.uLeft = st.ver, st.uUses
	}
	return st.u.data
}

// uScale is the factor that turns u into scale·(dy B).
func (st *loraState) uScale() float32 {
	if st.scaledU {
		return 1
	}
	return st.scale
}

// dst allocates the op's [rows, cols] value and returns where dA or dB goes: added into the
// trainer's buffer (beta 1) when the op has one, the value then a hole (its sink reads
// nothing: no buffer is taken for it), else written into the value (beta 0).
func (o *loraGradOp) dst(rows, cols int) (G.Value, []float32, float32) {
	if o.into != nil {
		return &hole{shape: tensor.Shape{rows, cols}, dt: tensor.Float32}, o.into, 1
	}
	res := o.out(rows, cols)
	d, _, _ := o.mat(res)
	return res, d, 0
}

// usedU gives u back once the ops that need it have used it.
func (o *loraGradOp) usedU() {
	st := o.st
	if st.uLeft--; st.uLeft <= 0 {
		o.drop(st.u)
		st.u = nil
	}
}

func (o *loraGradOp) Do(in ...G.Value) (G.Value, error) {
	dy, n, out := o.mat(in[0])
	st := o.st
	var res G.Value
	switch o.what {
	case 'x': // in: dy, A, B
		a, r, k := o.mat(in[1])
		b, _, _ := o.mat(in[2])
		u := o.gradB(dy, n, out, b, r)
		dxv := o.out(n, k)
		res = dxv
		dx, _, _ := o.mat(dxv)
		if o.w != nil { // dx = [dy | scale·u] [W ; A]: one product
			o.th().LinearLoRABackwardInput(dx, dy, u, n, o.w, a, r, false)
		} else {
			o.th().Gemm(false, false, n, k, r, st.uScale(), u, r, a, k, 0, dx, k)
		}
		o.usedU()
	case 'A': // in: dy, x, B
		x, _, k := o.mat(in[1])
		b, _, r := o.mat(in[2])
		u := o.gradB(dy, n, out, b, r)
		var da []float32
		var beta float32
		res, da, beta = o.dst(r, k)
		o.th().Gemm(true, false, r, k, n, st.uScale(), u, r, x, k, beta, da, k)
		o.usedU()
	default: // 'B', in: dy
		if st.t == nil {
			return nil, fmt.Errorf("%s: the forward pass's x Aᵀ is gone", o.name)
		}
		r := len(st.t.data) / n
		var db []float32
		var beta float32
		res, db, beta = o.dst(out, r)
		o.th().Gemm(true, false, out, r, n, st.scale, dy, out, st.t.data, r, beta, db, r)
		o.drop(st.t)
		st.t = nil
	}
	o.done(in)
	return res, nil
}

// ---- adapted projection: y = x Wᵀ + scale · (x Aᵀ) Bᵀ, x packed once ------------------------

// loraLinearOp is a frozen projection with its LoRA branch fused: A's rows are stacked under
// W so that one product over x yields x Wᵀ and t = x Aᵀ (kern.LinearLoRA); scale·t Bᵀ is then
// added into y. Backward, dx = [dy | scale·u] [W ; A] is one product over depth out + r (u = dy
// B, computed once per step for dx and dA); dA = scale·uᵀ x, dB = scale·dyᵀ t. The adapter's
// input must be the projection's (no dropout on it).
type loraLinearOp struct {
	base
	w  *kern.Weight
	st *loraState
}

func newLoRALinear(name string, w *kern.Weight, scale float32) *loraLinearOp {
	return &loraLinearOp{newBase(name, 3, matFn3, rowsBy(w.Rows)), w, &loraState{scale: scale, scaledU: true}}
}

func (o *loraLinearOp) Do(in ...G.Value) (G.Value, error) {
	x, n, k := o.mat(in[0])
	a, r, ka := o.mat(in[1])
	b, out, rb := o.mat(in[2])
	if k != o.w.Cols || ka != k || out != o.w.Rows || rb != r {
		return nil, fmt.Errorf("%s: x [%d,%d], A [%d,%d], B [%d,%d] do not fit weight [%d,%d]",
			o.name, n, k, r, ka, out, rb, o.w.Rows, o.w.Cols)
	}
	st := o.st
	st.ver++
	o.drop(st.t)
	st.t = o.scratch(n * r)
	y := o.out(n, out)
	yd, _, _ := o.mat(y)
	o.th().LinearLoRA(yd, st.t.data, x, n, o.w, a, r, false)
	o.th().Gemm(false, true, n, out, r, st.scale, st.t.data, r, b, r, 1, yd, out)
	st.keepT(&o.base)
	o.done(in)
	return y, nil
}

func (o *loraLinearOp) noBackward() { o.st.noGrad = true }

func (o *loraLinearOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (o *loraLinearOp) SymDiff(inputs G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return o.symDiffNeeded(inputs, out, grad, []bool{true, true, true})
}

// symDiffNeeded is SymDiff building only the gradients marked in need (nil for the others).
func (o *loraLinearOp) symDiffNeeded(inputs G.Nodes, _, grad *G.Node, need []bool) (G.Nodes, error) {
	return loraGrads(o.name, o.st, o.w, inputs, grad, need)
}

// ---- RMSNorm with a frozen weight, over rows of width n ------------------------------------

type rmsNormOp struct {
	base
	w   []float32
	n   int
	eps float32
}

func newRMSNorm(name string, w []float32, n int, eps float32) *rmsNormOp {
	return &rmsNormOp{newBase(name, 1, matFn1, same(0)), w, n, eps}
}

func (o *rmsNormOp) Do(in ...G.Value) (G.Value, error) {
	x, r, c := o.mat(in[0])
	y := o.out(r, c)
	yd, _, _ := o.mat(y)
	o.th().RMSNorm(yd, x, o.w, o.n, o.eps)
	o.done(in)
	return y, nil
}

func (o *rmsNormOp) DiffWRT(int) []bool { return []bool{true} }

func (o *rmsNormOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&rmsNormGradOp{newBase(o.name+"'", 2, matFn2, same(0)), o}, inputs[0], grad)
	return G.Nodes{dx}, err
}

type rmsNormGradOp struct {
	base
	f *rmsNormOp
}

func (o *rmsNormGradOp) Do(in ...G.Value) (G.Value, error) {
	x, r, c := o.mat(in[0])
	dy, _, _ := o.mat(in[1])
	dx := o.out(r, c)
	dd, _, _ := o.mat(dx)
	o.th().RMSNormBackward(dd, dy, x, o.f.w, o.f.n, o.f.eps)
	o.done(in)
	return dx, nil
}

// ---- rotary position embedding over [tokens, heads·headDim] --------------------------------

type ropeOp struct {
	base
	rope    *kern.Rope
	pos     *[]int32 // the step's position ids, refilled by the graph before each run
	heads   int
	inverse bool
}

func newRope(name string, r *kern.Rope, pos *[]int32, heads int) *ropeOp {
	return &ropeOp{newBase(name, 1, matFn1, same(0)), r, pos, heads, false}
}

func (o *ropeOp) Do(in ...G.Value) (G.Value, error) {
	x, r, c := o.mat(in[0])
	// The rotation is in place: on the input's own buffer when this op is its last reader
	// (a projection's output), else on a copy.
	y, stolen := o.pool.steal(in[0], o.uses)
	if !stolen {
		y = o.out(r, c)
	}
	yd, _, _ := o.mat(y)
	if !stolen {
		copy(yd, x)
	}
	if o.inverse {
		o.th().RopeApplyBackward(o.rope, yd, *o.pos, o.heads)
	} else {
		o.th().RopeApply(o.rope, yd, *o.pos, o.heads)
	}
	if !stolen {
		o.done(in)
	}
	return y, nil
}

func (o *ropeOp) DiffWRT(int) []bool { return []bool{true} }

func (o *ropeOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	inv := &ropeOp{newBase(o.name+"'", 1, matFn1, same(0)), o.rope, o.pos, o.heads, true}
	dx, err := apply(inv, grad)
	return G.Nodes{dx}, err
}

// ---- causal grouped-query attention --------------------------------------------------------

// attnGrads holds the three input gradients of an attention op, computed together by the
// first of its backward ops to run in a step (attnGradOp), and the step counters that say
// whether they are current.
type attnGrads struct {
	dq, dk, dv   *tensor.Dense
	ver, gradVer int
	gradUses     [3]int // readers of dq, dk, dv (0: that gradient is not in the graph)
}

// attnBackward is what an attention op's state does in the backward pass: compute dq, dk, dv
// (overwritten) from the inputs, the incoming gradient and what the forward pass saved, then
// give the saved activations back to the pool through o.
type attnBackward interface {
	grads() *attnGrads
	backward(o *base, dq, dk, dv, dout, q, k, v []float32) error
}

func (g *attnGrads) grads() *attnGrads { return g }

// attnSymDiff builds the backward ops of an attention op over inputs (q, k, v), only those
// marked in need (nil for the others).
func attnSymDiff(name string, st attnBackward, inputs G.Nodes, grad *G.Node, need []bool) (G.Nodes, error) {
	out := make(G.Nodes, 3)
	for i, which := range []byte{'q', 'k', 'v'} {
		if !need[i] {
			continue
		}
		n, err := apply(&attnGradOp{newBase(fmt.Sprintf("%s.d%c", name, which), 4, matFn4, same(i)), st, i},
			inputs[0], inputs[1], inputs[2], grad)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// attnGradOp returns one of dq, dk, dv of an attention op; the first of them to run in a step
// computes all three.
type attnGradOp struct {
	base
	st    attnBackward
	which int
}

func (o *attnGradOp) Do(in ...G.Value) (G.Value, error) {
	q, rq, cq := o.mat(in[0])
	k, rk, ck := o.mat(in[1])
	v, _, _ := o.mat(in[2])
	dout, _, _ := o.mat(in[3])
	g := o.st.grads()
	if g.gradVer != g.ver {
		g.dq, g.dk, g.dv = o.outUses(rq, cq, g.gradUses[0]), o.outUses(rk, ck, g.gradUses[1]), o.outUses(rk, ck, g.gradUses[2])
		dq, _, _ := o.mat(g.dq)
		dk, _, _ := o.mat(g.dk)
		dv, _, _ := o.mat(g.dv)
		if err := o.st.backward(&o.base, dq, dk, dv, dout, q, k, v); err != nil {
			return nil, err
		}
		g.gradVer = g.ver
		for i, d := range []*tensor.Dense{g.dq, g.dk, g.dv} {
			if g.gradUses[i] == 0 { // not needed: that input gets no gradient
				o.dropValue(d)
			}
		}
	}
	o.done(in)
	return [...]*tensor.Dense{g.dq, g.dk, g.dv}[o.which], nil
}

// attnState keeps the softmax probabilities of the forward pass for the backward.
type attnState struct {
	attnGrads
	shape  kern.AttnShape
	mask   *[]float32 // nil slice when the batch has no padding
	scale  float32
	probs  *buf
	noGrad bool // no backward op runs: the probabilities are not kept
}

func (st *attnState) backward(o *base, dq, dk, dv, dout, q, k, v []float32) error {
	if st.probs == nil {
		return fmt.Errorf("%s: the forward pass's probabilities are gone", o.name)
	}
	o.th().AttentionBackward(dq, dk, dv, dout, q, k, v, st.probs.data, st.shape, st.scale)
	o.drop(st.probs)
	st.probs = nil
	return nil
}

type attnOp struct {
	base
	st *attnState
}

func newAttention(name string, s kern.AttnShape, mask *[]float32, scale float32) *attnOp {
	return &attnOp{newBase(name, 3, matFn3, same(0)), &attnState{shape: s, mask: mask, scale: scale}}
}

func (o *attnOp) Do(in ...G.Value) (G.Value, error) {
	q, r, c := o.mat(in[0])
	k, _, _ := o.mat(in[1])
	v, _, _ := o.mat(in[2])
	st := o.st
	s := st.shape
	st.ver++
	o.drop(st.probs)
	st.probs = o.scratch(s.B * s.Hq * s.T * s.T)
	out := o.out(r, c)
	od, _, _ := o.mat(out)
	o.th().Attention(od, q, k, v, st.probs.data, *st.mask, s, st.scale)
	if st.noGrad {
		o.drop(st.probs)
		st.probs = nil
	}
	o.done(in)
	return out, nil
}

func (o *attnOp) noBackward() { o.st.noGrad = true }

func (o *attnOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (o *attnOp) SymDiff(inputs G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return o.symDiffNeeded(inputs, out, grad, []bool{true, true, true})
}

// symDiffNeeded is SymDiff building only the gradients marked in need (nil for the others).
func (o *attnOp) symDiffNeeded(inputs G.Nodes, _, grad *G.Node, need []bool) (G.Nodes, error) {
	return attnSymDiff(o.name, o.st, inputs, grad, need)
}

// ---- SwiGLU: h = silu(g) · u ----------------------------------------------------------------

type swigluState struct {
	dg, du    *tensor.Dense
	ver, gVer int
	gradUses  [2]int // readers of dg, du (0: that gradient is not in the graph)
}

type swigluOp struct {
	base
	st *swigluState
}

func newSwiGLU(name string) *swigluOp {
	return &swigluOp{newBase(name, 2, matFn2, same(0)), &swigluState{}}
}

func (o *swigluOp) Do(in ...G.Value) (G.Value, error) {
	g, r, c := o.mat(in[0])
	u, _, _ := o.mat(in[1])
	o.st.ver++
	h := o.out(r, c)
	hd, _, _ := o.mat(h)
	o.th().SwiGLU(hd, g, u)
	o.done(in)
	return h, nil
}

func (o *swigluOp) DiffWRT(int) []bool { return []bool{true, true} }

func (o *swigluOp) SymDiff(inputs G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return o.symDiffNeeded(inputs, out, grad, []bool{true, true})
}

// symDiffNeeded is SymDiff building only the gradients marked in need (nil for the others).
func (o *swigluOp) symDiffNeeded(inputs G.Nodes, _, grad *G.Node, need []bool) (G.Nodes, error) {
	out := make(G.Nodes, 2)
	for i := range out {
		if !need[i] {
			continue
		}
		n, err := apply(&swigluGradOp{newBase(fmt.Sprintf("%s.d%d", o.name, i), 3, matFn3, same(i)), o.st, i},
			inputs[0], inputs[1], grad)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

type swigluGradOp struct {
	base
	st    *swigluState
	which int
}

func (o *swigluGradOp) Do(in ...G.Value) (G.Value, error) {
	g, r, c := o.mat(in[0])
	u, _, _ := o.mat(in[1])
	dh, _, _ := o.mat(in[2])
	st := o.st
	if st.gVer != st.ver {
		st.dg, st.du = o.outUses(r, c, st.gradUses[0]), o.outUses(r, c, st.gradUses[1])
		dg, _, _ := o.mat(st.dg)
		du, _, _ := o.mat(st.du)
		o.th().SwiGLUBackward(dg, du, dh, g, u)
		st.gVer = st.ver
		for i, d := range []*tensor.Dense{st.dg, st.du} {
			if st.gradUses[i] == 0 {
				o.dropValue(d)
			}
		}
	}
	o.done(in)
	if o.which == 0 {
		return st.dg, nil
	}
	return st.du, nil
}

// ---- row selection (the positions that predict a label) ------------------------------------

type selectRowsOp struct {
	base
	rows *[]int
	n    int // rows of the input
}

func newSelectRows(name string, rows *[]int, n, k int) *selectRowsOp {
	return &selectRowsOp{newBase(name, 1, matFn1, func(in []tensor.Shape) tensor.Shape { return tensor.Shape{k, in[0][1]} }), rows, n}
}

func (o *selectRowsOp) Do(in ...G.Value) (G.Value, error) {
	x, _, c := o.mat(in[0])
	rows := *o.rows
	y := o.out(len(rows), c)
	yd, _, _ := o.mat(y)
	for i, r := range rows {
		copy(yd[i*c:(i+1)*c], x[r*c:(r+1)*c])
	}
	o.done(in)
	return y, nil
}

func (o *selectRowsOp) DiffWRT(int) []bool { return []bool{true} }

func (o *selectRowsOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&scatterRowsOp{newBase(o.name+"'", 1, matFn1, func(in []tensor.Shape) tensor.Shape { return tensor.Shape{o.n, in[0][1]} }), o}, grad)
	return G.Nodes{dx}, err
}

type scatterRowsOp struct {
	base
	f *selectRowsOp
}

func (o *scatterRowsOp) Do(in ...G.Value) (G.Value, error) {
	dy, _, c := o.mat(in[0])
	dx := o.out(o.f.n, c)
	dd, _, _ := o.mat(dx)
	clear(dd)
	defer o.done(in)
	for i, r := range *o.f.rows {
		row := dd[r*c : (r+1)*c]
		for j, v := range dy[i*c : (i+1)*c] {
			row[j] += v
		}
	}
	return dx, nil
}

// ---- cross-entropy on the selected rows ----------------------------------------------------

// ceOp returns scale · Σ -log softmax(logits)[target] as a scalar; it records the unscaled sum
// and the count of the step.
type ceOp struct {
	base
	targets *[]int32
	scale   *float32
	sum     float64
	count   int
	val     G.F32 // the value returned (not allocated per step)
}

func newCE(name string, targets *[]int32, scale *float32) *ceOp {
	return &ceOp{base: newBase(name, 1, toScalar, func([]tensor.Shape) tensor.Shape { return tensor.ScalarShape() }),
		targets: targets, scale: scale}
}

func (o *ceOp) Do(in ...G.Value) (G.Value, error) {
	logits, _, v := o.mat(in[0])
	o.sum, o.count = o.th().CrossEntropy(nil, logits, v, *o.targets, 1)
	o.done(in)
	o.val = G.F32(float32(o.sum) * *o.scale)
	return &o.val, nil
}

func (o *ceOp) DiffWRT(int) []bool { return []bool{true} }

func (o *ceOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dl, err := apply(&ceGradOp{newBase(o.name+"'", 2, matScalarToMat, same(0)), o}, inputs[0], grad)
	return G.Nodes{dl}, err
}

type ceGradOp struct {
	base
	f *ceOp
}

func (o *ceGradOp) Do(in ...G.Value) (G.Value, error) {
	logits, r, v := o.mat(in[0])
	g := float32(1)
	if s, ok := in[1].(*G.F32); ok {
		g = float32(*s)
	}
	dl := o.out(r, v)
	dd, _, _ := o.mat(dl)
	o.th().CrossEntropy(dd, logits, v, *o.f.targets, g**o.f.scale)
	o.done(in)
	return dl, nil
}

// ---- dropout on the adapter input ----------------------------------------------------------

// dropoutOp zeroes each input value with probability p and scales the rest by 1/(1-p), with a
// mask drawn from the trainer's generator at every step (inverted dropout, as torch does).
type dropoutOp struct {
	base
	p       float32
	mask    *buf // kept for the backward op, if the graph has one (hasGrad)
	draw    func(mask []float32)
	hasGrad bool
}

func (o *dropoutOp) Do(in ...G.Value) (G.Value, error) {
	x, r, c := o.mat(in[0])
	o.drop(o.mask)
	o.mask = o.scratch(r * c)
	o.draw(o.mask.data)
	y := o.out(r, c)
	yd, _, _ := o.mat(y)
	for i, v := range x {
		yd[i] = v * o.mask.data[i]
	}
	if !o.hasGrad {
		o.drop(o.mask)
		o.mask = nil
	}
	o.done(in)
	return y, nil
}

func (o *dropoutOp) DiffWRT(int) []bool { return []bool{true} }

func (o *dropoutOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&dropoutGradOp{newBase(o.name+"'", 1, matFn1, same(0)), o}, grad)
	return G.Nodes{dx}, err
}

type dropoutGradOp struct {
	base
	f *dropoutOp
}

func (o *dropoutGradOp) Do(in ...G.Value) (G.Value, error) {
	dy, r, c := o.mat(in[0])
	if o.f.mask == nil {
		return nil, fmt.Errorf("%s: the forward pass's mask is gone", o.name)
	}
	dx := o.out(r, c)
	dd, _, _ := o.mat(dx)
	for i, v := range dy {
		dd[i] = v * o.f.mask.data[i]
	}
	o.drop(o.f.mask)
	o.f.mask = nil
	o.done(in)
	return dx, nil
}

// ---- gradient sink -------------------------------------------------------------------------

// sinkOp adds its input (a LoRA gradient) into a buffer the trainer owns, the moment it is
// computed, so no later reuse of the value's register can change what the trainer reads.
type sinkOp struct {
	base
	dst  []float32
	zero G.F32
	// direct: the gradient op already added into dst (loraGradOp.into); Do only marks its
	// output read.
	direct bool
}

func newSink(name string, dst []float32) *sinkOp {
	return &sinkOp{base: newBase(name, 1, toScalar, func([]tensor.Shape) tensor.Shape { return tensor.ScalarShape() }), dst: dst}
}

func (o *sinkOp) Do(in ...G.Value) (G.Value, error) {
	if o.direct {
		o.done(in)
		return &o.zero, nil
	}
	g, _, _ := o.mat(in[0])
	if len(g) != len(o.dst) {
		return nil, fmt.Errorf("%s: gradient has %d values, buffer %d", o.name, len(g), len(o.dst))
	}
	for i, v := range g {
		o.dst[i] += v
	}
	o.done(in)
	return &o.zero, nil
}

// ---- sum: the residual connection, and the gradient of a value read by several ops ---------

// sumOp adds its matrix inputs (in order: ((a + b) + c) + ...). Its gradient passes the
// incoming gradient to every input unchanged.
type sumOp struct {
	base
	srcs [][]float32 // the inputs after the first, during Do
}

func newSum(name string, n int) *sumOp {
	return &sumOp{base: newBase(name, n, opType{mats: n}, same(0))}
}

func (o *sumOp) Do(in ...G.Value) (G.Value, error) {
	a, r, c := o.mat(in[0])
	if o.uses == 0 && o.pool != nil {
		// Nobody reads the sum (a recomputed layer's output, whose gradient is given): its
		// buffer goes back at once, unwritten.
		y := o.out(r, c)
		o.dropValue(y)
		o.done(in)
		return y, nil
	}
	o.srcs = o.srcs[:0]
	for _, v := range in[1:] {
		b, _, _ := o.mat(v)
		if len(b) != len(a) {
			return nil, fmt.Errorf("%s: adding %d values to %d", o.name, len(b), len(a))
		}
		o.srcs = append(o.srcs, b)
	}
	// The first input's buffer becomes the sum when this op is its last reader (a linear
	// projection's output, a gradient term): no copy, no buffer.
	var y *tensor.Dense
	stolen := false
	if !slices.Contains(in[1:], in[0]) {
		y, stolen = o.pool.steal(in[0], o.uses)
	}
	if !stolen {
		y = o.out(r, c)
	}
	yd, _, _ := o.mat(y)
	o.th().ParallelFor(len(yd), 1<<14, func(lo, hi int) {
		if !stolen {
			copy(yd[lo:hi], a[lo:hi])
		}
		for _, b := range o.srcs {
			addTo(yd[lo:hi], b[lo:hi])
		}
	})
	clear(o.srcs)
	if stolen {
		o.done(in[1:])
	} else {
		o.done(in)
	}
	return y, nil
}

// addTo sets y += x.
func addTo(y, x []float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		y[i] += x[i]
		y[i+1] += x[i+1]
		y[i+2] += x[i+2]
		y[i+3] += x[i+3]
	}
	for ; i < len(y); i++ {
		y[i] += x[i]
	}
}

func (o *sumOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

func (o *sumOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, len(inputs))
	for i := range out {
		out[i] = grad
	}
	return out, nil
}

// ---- checkpointing: a layer's input kept, a gradient handed to the next graph --------------

// keepOp passes a trained layer's input through in the checkpointed forward pass, and holds
// it past the run (one use more than its readers) for the layer's recomputation: the value
// is the input's own buffer when this op is its last reader, else a copy.
type keepOp struct {
	base
	val *tensor.Dense // the value of the last run, until the engine takes it
}

func (o *keepOp) Do(in ...G.Value) (G.Value, error) {
	x, r, c := o.mat(in[0])
	y, stolen := o.pool.steal(in[0], o.uses+1)
	if !stolen {
		y = o.outUses(r, c, o.uses+1)
		yd, _, _ := o.mat(y)
		copy(yd, x)
		o.done(in)
	}
	o.val = y
	return y, nil
}

func (o *keepOp) DiffWRT(int) []bool { return []bool{true} }

func (o *keepOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) { return G.Nodes{grad}, nil }

// grabOp holds a gradient past the run (read once more, by the engine): the gradient of a
// checkpointed layer's output that the layer's graph starts from.
type grabOp struct {
	base
	val  *tensor.Dense
	zero G.F32
}

func (o *grabOp) Do(in ...G.Value) (G.Value, error) {
	x, r, c := o.mat(in[0])
	y, stolen := o.pool.steal(in[0], 1)
	if !stolen {
		y = o.outUses(r, c, 1)
		yd, _, _ := o.mat(y)
		copy(yd, x)
		o.done(in)
	}
	o.val = y
	return &o.zero, nil
}
