package train

// Training-graph op: SwiGLU: h = silu(g) · u.

import (
	G "gorgonia.org/gorgonia"
)

// swigluOp is a joint op: its backward computes dg and du together.
type swigluOp struct {
	jointOp
	st *swigluState
}

type swigluState struct{ jointGrads }

func newSwiGLU(name string) *swigluOp {
	st := &swigluState{newJointGrads(2)}
	return &swigluOp{jointOp{newBase(name, 2, matFn2, same(0)), st, "gu"}, st}
}

func (o *swigluOp) Do(in ...G.Value) (G.Value, error) {
	g, r, c := o.mat(in[0])
	u, _, _ := o.mat(in[1])
	o.st.ver++
	h, hd := o.newOut(r, c)
	o.th().SwiGLU(hd, g, u)
	o.done(in)
	return h, nil
}

func (o *swigluOp) release() { clear(o.st.d) }

// backward writes dg, du from g, u and dh.
func (st *swigluState) backward(o *base, dd, x [][]float32) error {
	o.th().SwiGLUBackward(dd[0], dd[1], x[2], x[0], x[1])
	return nil
}
