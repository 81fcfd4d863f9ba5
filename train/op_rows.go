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
	y := o.out(len(rows), c)
	yd, _, _ := o.mat(y)
	for i, r := range rows {
		copy(yd[i*c:(i+1)*c], x[r*c:(r+1)*c])
	}
	o.done(in)
	return y, nil
}

func (o *selectRowsOp) DiffWRT(int) []bool { return []bool{true} }

func (o *selectRowsOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&scatterRowsOp{newBase(o.name+"'", 1, matFn1, func(in []tensor.Shape) tensor.Shape { return tensor.Shape{o.n, in[0][1]} }), o}, grad)
	return G.Nodes{dx}, err
}

type scatterRowsOp struct {
	base
	f *selectRowsOp
}

func (o *scatterRowsOp) Do(in ...G.Value) (G.Value, error) {
	dy, _, c := o.mat(in[0])
	dx := o.out(o.f.n, c)
	dd, _, _ := o.mat(dx)
	clear(dd)
	defer o.done(in)
	for i, r := range o.f.in.rows {
		row := dd[r*c : (r+1)*c]
		for j, v := range dy[i*c : (i+1)*c] {
			row[j] += v
		}
	}
	return dx, nil
}
