package train

// Training-graph op: Rotary position embedding over [tokens, heads·headDim].

import (
	G "gorgonia.org/gorgonia"

	"github.com/valora-go/valora/internal/kern"
)

type ropeOp struct {
	base
	rope    *kern.Rope
	in      *stepInputs // the step's position ids (in.pos)
	heads   int
	inverse bool
}

func newRope(name string, r *kern.Rope, in *stepInputs, heads int) *ropeOp {
	return &ropeOp{newBase(name, 1, matFn1, same(0)), r, in, heads, false}
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
		o.th().RopeApplyBackward(o.rope, yd, o.in.pos, o.heads)
	} else {
		o.th().RopeApply(o.rope, yd, o.in.pos, o.heads)
	}
	if !stolen {
		o.done(in)
	}
	return y, nil
}

func (o *ropeOp) DiffWRT(int) []bool { return []bool{true} }

func (o *ropeOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	inv := &ropeOp{newBase(o.name+"'", 1, matFn1, same(0)), o.rope, o.in, o.heads, true}
	dx, err := apply(inv, grad)
	return G.Nodes{dx}, err
}
