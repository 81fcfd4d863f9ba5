package train

// Training-graph op: SwiGLU: h = silu(g) · u.

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

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

func (o *swigluOp) release() { o.st.dg, o.st.du = nil, nil }

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

func (o *swigluGradOp) countUses(uses int) { o.st.gradUses[o.which] = uses }

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
