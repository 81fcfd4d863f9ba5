package train

// Training-graph op: Frozen projection: y = x Wᵀ.

import (
	G "gorgonia.org/gorgonia"

	"github.com/valora-go/valora/internal/kern"
)

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
