package train

// Training-graph op: Sum: the residual connection, and the gradient of a value read by several ops.

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// sumOp adds its matrix inputs (in order: ((a + b) + c) + ...). Its gradient passes the
// incoming gradient to every input unchanged.
type sumOp struct {
	base
	srcs [][]float32 // the inputs after the first, during Do
}

func newSum(name string, n int) *sumOp {
	return &sumOp{base: newBase(name, n, opType{mats: n}, same(0))}
}

func (o *sumOp) Do(in ...G.Value) (G.Value, error) {
	a, r, c := o.mat(in[0])
	if o.uses == 0 && o.pool != nil {
		// Nobody reads the sum (a recomputed layer's output, whose gradient is given): its
		// buffer goes back at once, unwritten.
		y := o.out(r, c)
		o.dropValue(y)
		o.done(in)
		return y, nil
	}
	o.srcs = o.srcs[:0]
	for _, v := range in[1:] {
		b, _, _ := o.mat(v)
		if len(b) != len(a) {
			return nil, fmt.Errorf("%s: adding %d values to %d", o.name, len(b), len(a))
		}
		o.srcs = append(o.srcs, b)
	}
	// The first input's buffer becomes the sum when this op is its last reader (a linear
	// projection's output, a gradient term): no copy, no buffer.
	var y *tensor.Dense
	stolen := false
	if !slices.Contains(in[1:], in[0]) {
		y, stolen = o.pool.steal(in[0], o.uses)
	}
	if !stolen {
		y = o.out(r, c)
	}
	yd, _, _ := o.mat(y)
	o.th().ParallelFor(len(yd), 1<<14, func(lo, hi int) {
		if !stolen {
			copy(yd[lo:hi], a[lo:hi])
		}
		for _, b := range o.srcs {
			addTo(yd[lo:hi], b[lo:hi])
		}
	})
	clear(o.srcs)
	if stolen {
		o.done(in[1:])
	} else {
		o.done(in)
	}
	return y, nil
}

// addTo sets y += x.
func addTo(y, x []float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		y[i] += x[i]
		y[i+1] += x[i+1]
		y[i+2] += x[i+2]
		y[i+3] += x[i+3]
	}
	for ; i < len(y); i++ {
		y[i] += x[i]
	}
}

func (o *sumOp) DiffWRT(n int) []bool { return allTrue(n) }

func (o *sumOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, len(inputs))
	for i := range out {
		out[i] = grad
	}
	return out, nil
}
