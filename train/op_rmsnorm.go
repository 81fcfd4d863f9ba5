package train

// Training-graph op: RMSNorm with a frozen weight, over rows of width n.

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

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
	y, yd := o.newOut(r, c)
	o.th().RMSNorm(yd, x, o.w, o.n, o.eps)
	o.done(in)
	return y, nil
}

func (o *rmsNormOp) DiffWRT(int) []bool { return []bool{true} }

func (o *rmsNormOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	return inputGrad(o.name, matFn2, same(0), o.backward, inputs[0], grad)
}

// backward returns the gradient of x (in[0]) from that of y (in[1]).
func (o *rmsNormOp) backward(b *base, in []G.Value) *tensor.Dense {
	x, r, c := b.mat(in[0])
	dy, _, _ := b.mat(in[1])
	dx, dd := b.newOut(r, c)
	b.th().RMSNormBackward(dd, dy, x, o.w, o.n, o.eps)
	return dx
}
