package train

// Training-graph op: Dropout on the adapter input.

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

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
	y, yd := o.newOut(r, c)
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

func (o *dropoutOp) release() { o.mask = nil }

func (o *dropoutOp) DiffWRT(int) []bool { return []bool{true} }

func (o *dropoutOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&dropoutGradOp{newBase(o.name+"'", 1, matFn1, same(0)), o}, grad)
	return G.Nodes{dx}, err
}

type dropoutGradOp struct {
	base
	f *dropoutOp
}

func (o *dropoutGradOp) countUses(int) { o.f.hasGrad = true }

func (o *dropoutGradOp) Do(in ...G.Value) (G.Value, error) {
	dy, r, c := o.mat(in[0])
	if o.f.mask == nil {
		return nil, fmt.Errorf("%s: the forward pass's mask is gone", o.name)
	}
	dx, dd := o.newOut(r, c)
	for i, v := range dy {
		dd[i] = v * o.f.mask.data[i]
	}
	o.drop(o.f.mask)
	o.f.mask = nil
	o.done(in)
	return dx, nil
}
