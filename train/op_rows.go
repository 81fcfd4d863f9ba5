package train

// Training-graph op: Row selection (the positions that predict a label).

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

type selectRowsOp struct {
	base
	in *stepInputs // the selected rows (in.rows)
	n  int         // rows of the input
}

func newSelectRows(name string, in *stepInputs, n, k int) *selectRowsOp {
	return &selectRowsOp{newBase(name, 1, matFn1, func(in []tensor.Shape) tensor.Shape { return tensor.Shape{k, in[0][1]} }), in, n}
}

func (o *selectRowsOp) Do(in ...G.Value) (G.Value, error) {
	x, _, c := o.mat(in[0])
	rows := o.in.rows
	y, yd := o.newOut(len(rows), c)
	for i, r := range rows {
		copy(yd[i*c:(i+1)*c], x[r*c:(r+1)*c])
	}
	o.done(in)
	return y, nil
}

func (o *selectRowsOp) DiffWRT(int) []bool { return []bool{true} }

func (o *selectRowsOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	return inputGrad(o.name, matFn1, func(in []tensor.Shape) tensor.Shape { return tensor.Shape{o.n, in[0][1]} }, o.backward, grad)
}

// backward scatters the selected rows' gradient (in[0]) back to their rows, zeros elsewhere.
func (o *selectRowsOp) backward(b *base, in []G.Value) *tensor.Dense {
	dy, _, c := b.mat(in[0])
	dx, dd := b.newOut(o.n, c)
	clear(dd)
	for i, r := range o.in.rows {
		addTo(dd[r*c:(r+1)*c], dy[i*c:(i+1)*c])
	}
	return dx
}
