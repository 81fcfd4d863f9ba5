package train

// Training-graph op: LoRA: y = scale · (x Aᵀ) Bᵀ.

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/valora-go/valora/internal/kern"
)

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

// loraCommon is what the LoRA branch op and the fused adapted projection share: the step
// state and the backward built by loraGrads (w nil: the branch alone).
type loraCommon struct {
	base
	w  *kern.Weight
	st *loraState
}

func (o *loraCommon) noBackward() { o.st.noGrad = true }

func (o *loraCommon) release() { o.st.t, o.st.u = nil, nil }

func (o *loraCommon) DiffWRT(int) []bool { return []bool{true, true, true} }

func (o *loraCommon) SymDiff(inputs G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return o.symDiffNeeded(inputs, out, grad, []bool{true, true, true})
}

// symDiffNeeded is SymDiff building only the gradients marked in need (nil for the others).
func (o *loraCommon) symDiffNeeded(inputs G.Nodes, _, grad *G.Node, need []bool) (G.Nodes, error) {
	return loraGrads(o.name, o.st, o.w, inputs, grad, need)
}

// loraOp is the LoRA branch alone (its input may differ from the projection's, e.g. after
// dropout).
type loraOp struct{ loraCommon }

func newLoRA(name string, out int, scale float32) *loraOp {
	return &loraOp{loraCommon{newBase(name, 3, matFn3, rowsBy(out)), nil, &loraState{scale: scale}}}
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

func (o *loraGradOp) countUses(int) {
	if o.what != 'B' {
		o.st.uUses++ // dx and dA read u
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
