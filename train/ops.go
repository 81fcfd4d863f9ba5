package train

// Custom gorgonia operations for the training graph. Every forward op calls the same kernel
// (package internal/kern) as the inference pass; every backward op is hand-written against a
// kernel checked by finite differences in that package. Frozen weights are referenced from the
// op, never copied into the graph; only the LoRA matrices are graph inputs.
//
// All values are float32 matrices [rows, cols] (*tensor.Dense), except the loss and the
// sinks, which are float32 scalars. Ops allocate their outputs in Do: the tape machine is reset
// after every run, so no value outlives its step and no register is reused across steps.

import (
	"fmt"
	"hash"
	"hash/fnv"

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
	return &linearOp{base{name, 1, matFn1, rowsBy(w.Rows)}, w}
}

func (o *linearOp) Do(in ...G.Value) (G.Value, error) {
	x, n, _ := data(in[0])
	y := newMat(n, o.w.Rows)
	kern.Linear(y.Data().([]float32), x, n, o.w, false)
	return y, nil
}

func (o *linearOp) DiffWRT(int) []bool { return []bool{true} }

func (o *linearOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&linearTOp{base{o.name + "ᵀ", 1, matFn1, rowsBy(o.w.Cols)}, o.w}, grad)
	return G.Nodes{dx}, err
}

// linearTOp is the backward of linearOp: dx = dy W.
type linearTOp struct {
	base
	w *kern.Weight
}

func (o *linearTOp) Do(in ...G.Value) (G.Value, error) {
	dy, n, _ := data(in[0])
	dx := newMat(n, o.w.Cols)
	kern.LinearBackwardInput(dx.Data().([]float32), dy, n, o.w, false)
	return dx, nil
}

// ---- LoRA: y = scale · (x Aᵀ) Bᵀ ----------------------------------------------------------

// loraState carries what the forward pass computed (t = x Aᵀ) and what the first backward
// op computes (u = dy B) to the other backward ops of the same step.
type loraState struct {
	scale     float32
	t, u      []float32
	ver, uVer int
}

type loraOp struct {
	base
	st *loraState
}

func newLoRA(name string, out int, scale float32) *loraOp {
	return &loraOp{base{name, 3, matFn3, rowsBy(out)}, &loraState{scale: scale}}
}

func (o *loraOp) Do(in ...G.Value) (G.Value, error) {
	x, n, k := data(in[0])
	a, r, _ := data(in[1])
	b, out, _ := data(in[2])
	st := o.st
	st.ver++
	st.t = make([]float32, n*r)
	kern.Gemm(false, true, n, r, k, 1, x, k, a, k, 0, st.t, r)
	y := newMat(n, out)
	kern.Gemm(false, true, n, out, r, st.scale, st.t, r, b, r, 0, y.Data().([]float32), out)
	return y, nil
}

func (o *loraOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (o *loraOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	x, a, b := inputs[0], inputs[1], inputs[2]
	in, r, out := x.Shape()[1], a.Shape()[0], b.Shape()[0]
	dx, err := apply(&loraGradOp{base{o.name + ".dx", 3, matFn3, rowsBy(in)}, o.st, 'x'}, grad, a, b)
	if err != nil {
		return nil, err
	}
	da, err := apply(&loraGradOp{base{o.name + ".dA", 3, matFn3, func([]tensor.Shape) tensor.Shape { return tensor.Shape{r, in} }}, o.st, 'A'}, grad, x, b)
	if err != nil {
		return nil, err
	}
	db, err := apply(&loraGradOp{base{o.name + ".dB", 1, matFn1, func([]tensor.Shape) tensor.Shape { return tensor.Shape{out, r} }}, o.st, 'B'}, grad)
	return G.Nodes{dx, da, db}, err
}

// loraGradOp computes one of dx = scale·(dy B) A, dA = scale·(dy B)ᵀ x, dB = scale·dyᵀ t.
type loraGradOp struct {
	base
	st   *loraState
	what byte
}

// gradB returns u = dy B [n, r], computed once per step.
func (st *loraState) gradB(dy []float32, n, out int, b []float32, r int) []float32 {
	if st.uVer != st.ver {
		st.u = make([]float32, n*r)
		kern.Gemm(false, false, n, r, out, 1, dy, out, b, r, 0, st.u, r)
		st.uVer = st.ver
	}
	return st.u
}

func (o *loraGradOp) Do(in ...G.Value) (G.Value, error) {
	dy, n, out := data(in[0])
	st := o.st
	switch o.what {
	case 'x': // in: dy, A, B
		a, r, k := data(in[1])
		b, _, _ := data(in[2])
		u := st.gradB(dy, n, out, b, r)
		dx := newMat(n, k)
		kern.Gemm(false, false, n, k, r, st.scale, u, r, a, k, 0, dx.Data().([]float32), k)
		return dx, nil
	case 'A': // in: dy, x, B
		x, _, k := data(in[1])
		b, _, r := data(in[2])
		u := st.gradB(dy, n, out, b, r)
		da := newMat(r, k)
		kern.Gemm(true, false, r, k, n, st.scale, u, r, x, k, 0, da.Data().([]float32), k)
		return da, nil
	default: // 'B', in: dy
		r := len(st.t) / n
		db := newMat(out, r)
		kern.Gemm(true, false, out, r, n, st.scale, dy, out, st.t, r, 0, db.Data().([]float32), r)
		return db, nil
	}
}

// ---- RMSNorm with a frozen weight, over rows of width n ------------------------------------

type rmsNormOp struct {
	base
	w   []float32
	n   int
	eps float32
}

func newRMSNorm(name string, w []float32, n int, eps float32) *rmsNormOp {
	return &rmsNormOp{base{name, 1, matFn1, same(0)}, w, n, eps}
}

func (o *rmsNormOp) Do(in ...G.Value) (G.Value, error) {
	x, r, c := data(in[0])
	y := newMat(r, c)
	kern.RMSNorm(y.Data().([]float32), x, o.w, o.n, o.eps)
	return y, nil
}

func (o *rmsNormOp) DiffWRT(int) []bool { return []bool{true} }

func (o *rmsNormOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&rmsNormGradOp{base{o.name + "'", 2, matFn2, same(0)}, o}, inputs[0], grad)
	return G.Nodes{dx}, err
}

type rmsNormGradOp struct {
	base
	f *rmsNormOp
}

func (o *rmsNormGradOp) Do(in ...G.Value) (G.Value, error) {
	x, r, c := data(in[0])
	dy, _, _ := data(in[1])
	dx := newMat(r, c)
	kern.RMSNormBackward(dx.Data().([]float32), dy, x, o.f.w, o.f.n, o.f.eps)
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
	return &ropeOp{base{name, 1, matFn1, same(0)}, r, pos, heads, false}
}

func (o *ropeOp) Do(in ...G.Value) (G.Value, error) {
	x, r, c := data(in[0])
	y := newMat(r, c)
	yd := y.Data().([]float32)
	copy(yd, x)
	if o.inverse {
		o.rope.ApplyBackward(yd, *o.pos, o.heads)
	} else {
		o.rope.Apply(yd, *o.pos, o.heads)
	}
	return y, nil
}

func (o *ropeOp) DiffWRT(int) []bool { return []bool{true} }

func (o *ropeOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	inv := &ropeOp{base{o.name + "'", 1, matFn1, same(0)}, o.rope, o.pos, o.heads, true}
	dx, err := apply(inv, grad)
	return G.Nodes{dx}, err
}

// ---- causal grouped-query attention --------------------------------------------------------

// attnState keeps the softmax probabilities of the forward pass for the backward, and the
// three input gradients computed together by the first backward op of the step.
type attnState struct {
	shape        kern.AttnShape
	mask         *[]float32 // nil slice when the batch has no padding
	scale        float32
	probs        []float32
	dq, dk, dv   []float32
	ver, gradVer int
}

type attnOp struct {
	base
	st *attnState
}

func newAttention(name string, s kern.AttnShape, mask *[]float32, scale float32) *attnOp {
	return &attnOp{base{name, 3, matFn3, same(0)}, &attnState{shape: s, mask: mask, scale: scale}}
}

func (o *attnOp) Do(in ...G.Value) (G.Value, error) {
	q, r, c := data(in[0])
	k, _, _ := data(in[1])
	v, _, _ := data(in[2])
	st := o.st
	s := st.shape
	st.ver++
	st.probs = make([]float32, s.B*s.Hq*s.T*s.T)
	out := newMat(r, c)
	kern.Attention(out.Data().([]float32), q, k, v, st.probs, *st.mask, s, st.scale)
	return out, nil
}

func (o *attnOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (o *attnOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, 3)
	for i, which := range []byte{'q', 'k', 'v'} {
		n, err := apply(&attnGradOp{base{fmt.Sprintf("%s.d%c", o.name, which), 4, matFn4, same(i)}, o.st, i},
			inputs[0], inputs[1], inputs[2], grad)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

type attnGradOp struct {
	base
	st    *attnState
	which int
}

func (o *attnGradOp) Do(in ...G.Value) (G.Value, error) {
	q, rq, cq := data(in[0])
	k, rk, ck := data(in[1])
	v, _, _ := data(in[2])
	dout, _, _ := data(in[3])
	st := o.st
	if st.gradVer != st.ver {
		st.dq, st.dk, st.dv = make([]float32, rq*cq), make([]float32, rk*ck), make([]float32, rk*ck)
		kern.AttentionBackward(st.dq, st.dk, st.dv, dout, q, k, v, st.probs, st.shape, st.scale)
		st.gradVer = st.ver
	}
	switch o.which {
	case 0:
		return tensor.New(tensor.WithShape(rq, cq), tensor.WithBacking(st.dq)), nil
	case 1:
		return tensor.New(tensor.WithShape(rk, ck), tensor.WithBacking(st.dk)), nil
	}
	return tensor.New(tensor.WithShape(rk, ck), tensor.WithBacking(st.dv)), nil
}

// ---- SwiGLU: h = silu(g) · u ----------------------------------------------------------------

type swigluState struct {
	dg, du    []float32
	ver, gVer int
}

type swigluOp struct {
	base
	st *swigluState
}

func newSwiGLU(name string) *swigluOp {
	return &swigluOp{base{name, 2, matFn2, same(0)}, &swigluState{}}
}

func (o *swigluOp) Do(in ...G.Value) (G.Value, error) {
	g, r, c := data(in[0])
	u, _, _ := data(in[1])
	o.st.ver++
	h := newMat(r, c)
	kern.SwiGLU(h.Data().([]float32), g, u)
	return h, nil
}

func (o *swigluOp) DiffWRT(int) []bool { return []bool{true, true} }

func (o *swigluOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, 2)
	for i := range out {
		n, err := apply(&swigluGradOp{base{fmt.Sprintf("%s.d%d", o.name, i), 3, matFn3, same(i)}, o.st, i},
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
	g, r, c := data(in[0])
	u, _, _ := data(in[1])
	dh, _, _ := data(in[2])
	st := o.st
	if st.gVer != st.ver {
		st.dg, st.du = make([]float32, r*c), make([]float32, r*c)
		kern.SwiGLUBackward(st.dg, st.du, dh, g, u)
		st.gVer = st.ver
	}
	if o.which == 0 {
		return tensor.New(tensor.WithShape(r, c), tensor.WithBacking(st.dg)), nil
	}
	return tensor.New(tensor.WithShape(r, c), tensor.WithBacking(st.du)), nil
}

// ---- row selection (the positions that predict a label) ------------------------------------

type selectRowsOp struct {
	base
	rows *[]int
	n    int // rows of the input
}

func newSelectRows(name string, rows *[]int, n, k int) *selectRowsOp {
	return &selectRowsOp{base{name, 1, matFn1, func(in []tensor.Shape) tensor.Shape { return tensor.Shape{k, in[0][1]} }}, rows, n}
}

func (o *selectRowsOp) Do(in ...G.Value) (G.Value, error) {
	x, _, c := data(in[0])
	rows := *o.rows
	y := newMat(len(rows), c)
	yd := y.Data().([]float32)
	for i, r := range rows {
		copy(yd[i*c:(i+1)*c], x[r*c:(r+1)*c])
	}
	return y, nil
}

func (o *selectRowsOp) DiffWRT(int) []bool { return []bool{true} }

func (o *selectRowsOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&scatterRowsOp{base{o.name + "'", 1, matFn1, func(in []tensor.Shape) tensor.Shape { return tensor.Shape{o.n, in[0][1]} }}, o}, grad)
	return G.Nodes{dx}, err
}

type scatterRowsOp struct {
	base
	f *selectRowsOp
}

func (o *scatterRowsOp) Do(in ...G.Value) (G.Value, error) {
	dy, _, c := data(in[0])
	dx := newMat(o.f.n, c)
	dd := dx.Data().([]float32)
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
}

func newCE(name string, targets *[]int32, scale *float32) *ceOp {
	return &ceOp{base: base{name, 1, toScalar, func([]tensor.Shape) tensor.Shape { return tensor.ScalarShape() }},
		targets: targets, scale: scale}
}

func (o *ceOp) Do(in ...G.Value) (G.Value, error) {
	logits, _, v := data(in[0])
	o.sum, o.count = kern.CrossEntropy(nil, logits, v, *o.targets, 1)
	return G.NewF32(float32(o.sum) * *o.scale), nil
}

func (o *ceOp) DiffWRT(int) []bool { return []bool{true} }

func (o *ceOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dl, err := apply(&ceGradOp{base{o.name + "'", 2, matScalarToMat, same(0)}, o}, inputs[0], grad)
	return G.Nodes{dl}, err
}

type ceGradOp struct {
	base
	f *ceOp
}

func (o *ceGradOp) Do(in ...G.Value) (G.Value, error) {
	logits, r, v := data(in[0])
	g := float32(1)
	if s, ok := in[1].(*G.F32); ok {
		g = float32(*s)
	}
	dl := newMat(r, v)
	kern.CrossEntropy(dl.Data().([]float32), logits, v, *o.f.targets, g**o.f.scale)
	return dl, nil
}

// ---- dropout on the adapter input ----------------------------------------------------------

// dropoutOp zeroes each input value with probability p and scales the rest by 1/(1-p), with a
// mask drawn from the trainer's generator at every step (inverted dropout, as torch does).
type dropoutOp struct {
	base
	p    float32
	mask []float32
	draw func(n int) []float32
}

func (o *dropoutOp) Do(in ...G.Value) (G.Value, error) {
	x, r, c := data(in[0])
	o.mask = o.draw(r * c)
	y := newMat(r, c)
	yd := y.Data().([]float32)
	for i, v := range x {
		yd[i] = v * o.mask[i]
	}
	return y, nil
}

func (o *dropoutOp) DiffWRT(int) []bool { return []bool{true} }

func (o *dropoutOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&dropoutGradOp{base{o.name + "'", 1, matFn1, same(0)}, o}, grad)
	return G.Nodes{dx}, err
}

type dropoutGradOp struct {
	base
	f *dropoutOp
}

func (o *dropoutGradOp) Do(in ...G.Value) (G.Value, error) {
	dy, r, c := data(in[0])
	dx := newMat(r, c)
	dd := dx.Data().([]float32)
	for i, v := range dy {
		dd[i] = v * o.f.mask[i]
	}
	return dx, nil
}

// ---- gradient sink -------------------------------------------------------------------------

// sinkOp adds its input (a LoRA gradient) into a buffer the trainer owns, the moment it is
// computed, so no later reuse of the value's register can change what the trainer reads.
type sinkOp struct {
	base
	dst []float32
}

func newSink(name string, dst []float32) *sinkOp {
	return &sinkOp{base{name, 1, toScalar, func([]tensor.Shape) tensor.Shape { return tensor.ScalarShape() }}, dst}
}

func (o *sinkOp) Do(in ...G.Value) (G.Value, error) {
	g, _, _ := data(in[0])
	if len(g) != len(o.dst) {
		return nil, fmt.Errorf("%s: gradient has %d values, buffer %d", o.name, len(g), len(o.dst))
	}
	for i, v := range g {
		o.dst[i] += v
	}
	return G.NewF32(0), nil
}
