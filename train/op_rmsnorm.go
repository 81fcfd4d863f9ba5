package train

// Training-graph op: RMSNorm with a frozen weight, over rows of width n.

import (
	G "gorgonia.org/gorgonia"
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
