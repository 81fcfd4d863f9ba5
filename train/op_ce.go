package train

// Training-graph op: Cross-entropy on the selected rows.

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ceOp returns scale · Σ -log softmax(logits)[target] as a scalar; it records the unscaled sum
// and the count of the step.
type ceOp struct {
	base
	in    *stepInputs // the step's targets and loss scale
	sum   float64
	count int
	val   G.F32 // the value returned (not allocated per step)
}

func newCE(name string, in *stepInputs) *ceOp {
	return &ceOp{base: newBase(name, 1, toScalar, func([]tensor.Shape) tensor.Shape { return tensor.ScalarShape() }),
		in: in}
}

func (o *ceOp) Do(in ...G.Value) (G.Value, error) {
	logits, _, v := o.mat(in[0])
	o.sum, o.count = o.th().CrossEntropy(nil, logits, v, o.in.targets, 1)
	o.done(in)
	o.val = G.F32(float32(o.sum) * o.in.scale)
	return &o.val, nil
}

func (o *ceOp) DiffWRT(int) []bool { return []bool{true} }

func (o *ceOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	return inputGrad(o.name, matScalarToMat, same(0), o.backward, inputs[0], grad)
}

// backward returns the gradient of the logits (in[0]) times the incoming gradient (in[1]).
func (o *ceOp) backward(b *base, in []G.Value) *tensor.Dense {
	logits, r, v := b.mat(in[0])
	g := float32(1)
	if s, ok := in[1].(*G.F32); ok {
		g = float32(*s)
	}
	dl, dd := b.newOut(r, v)
	b.th().CrossEntropy(dd, logits, v, o.in.targets, g*o.in.scale)
	return dl
}
