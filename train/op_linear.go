package train

// Training-graph op: Frozen projection: y = x Wᵀ, and its backward dx = dy W.

import (
	G "gorgonia.org/gorgonia"

	"github.com/valora-go/valora/internal/kern"
)

// linearOp is y = x Wᵀ, or with back set its backward dx = dy W (not differentiated further).
type linearOp struct {
	base
	w    *kern.Weight
	back bool
}

func newLinear(name string, w *kern.Weight) *linearOp {
	return &linearOp{newBase(name, 1, matFn1, rowsBy(w.Rows)), w, false}
}

func (o *linearOp) Do(in ...G.Value) (G.Value, error) {
	x, n, _ := o.mat(in[0])
	width := o.w.Rows
	if o.back {
		width = o.w.Cols
	}
	y := o.out(n, width)
	yd, _, _ := o.mat(y)
	if o.back {
		o.th().LinearBackwardInput(yd, x, n, o.w, false)
	} else {
		o.th().Linear(yd, x, n, o.w, false)
	}
	o.done(in)
	return y, nil
}

func (o *linearOp) DiffWRT(int) []bool { return []bool{!o.back} }

func (o *linearOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&linearOp{newBase(o.name+"ᵀ", 1, matFn1, rowsBy(o.w.Cols)), o.w, true}, grad)
	return G.Nodes{dx}, err
}
