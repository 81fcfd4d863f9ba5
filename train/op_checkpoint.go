package train

// Training-graph op: Checkpointing: a layer's input kept, a gradient handed to the next graph.

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// keepOp passes a trained layer's input through in the checkpointed forward pass, and holds
// it past the run (one use more than its readers) for the layer's recomputation: the value
// is the input's own buffer when this op is its last reader, else a copy.
type keepOp struct {
	base
	val *tensor.Dense // the value of the last run, until the engine takes it
}

func (o *keepOp) Do(in ...G.Value) (G.Value, error) {
	x, r, c := o.mat(in[0])
	y, stolen := o.pool.steal(in[0], o.uses+1)
	if !stolen {
		y = o.outUses(r, c, o.uses+1)
		yd, _, _ := o.mat(y)
		copy(yd, x)
		o.done(in)
	}
	o.val = y
	return y, nil
}

func (o *keepOp) DiffWRT(int) []bool { return []bool{true} }

func (o *keepOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) { return G.Nodes{grad}, nil }

// grabOp holds a gradient past the run (read once more, by the engine): the gradient of a
// checkpointed layer's output that the layer's graph starts from.
type grabOp struct {
	base
	val  *tensor.Dense
	zero G.F32
}

func (o *grabOp) Do(in ...G.Value) (G.Value, error) {
	x, r, c := o.mat(in[0])
	y, stolen := o.pool.steal(in[0], 1)
	if !stolen {
		y = o.outUses(r, c, 1)
		yd, _, _ := o.mat(y)
		copy(yd, x)
		o.done(in)
	}
	o.val = y
	return &o.zero, nil
}
