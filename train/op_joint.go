package train

// Training-graph plumbing: ops whose backward computes the gradients of all their inputs at
// once (attention, SwiGLU). Such an op gets one backward op per input in need of a gradient
// (jointGradOp); the first of them to run in a step computes every gradient, the others hand
// out theirs.

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// jointGrads holds the input gradients of a joint op, computed together by the first of its
// backward ops to run in a step, and the step counters that say whether they are current.
type jointGrads struct {
	d            []*tensor.Dense // the gradients, by input
	uses         []int           // readers of each (0: that gradient is not in the graph)
	ver, gradVer int             // the step of the forward pass, and of the gradients
	dd, x        [][]float32     // backward's arguments (during a backward only)
}

// newJointGrads returns the gradient slots of an op of n inputs.
func newJointGrads(n int) jointGrads {
	return jointGrads{d: make([]*tensor.Dense, n), uses: make([]int, n),
		dd: make([][]float32, n), x: make([][]float32, n+1)}
}

func (g *jointGrads) grads() *jointGrads { return g }

// jointState is what a joint op's forward and backward ops share: its gradients, and the
// backward pass, which writes every input's gradient into dd (overwritten) from x (the
// inputs, then the incoming gradient) and what the forward pass saved, then gives the saved
// state back to the pool through o.
type jointState interface {
	grads() *jointGrads
	backward(o *base, dd, x [][]float32) error
}

// jointOp supplies the differentiation of a joint op: a jointGradOp per input, named after the
// input's letter in inputs (name.dq).
type jointOp struct {
	base
	st     jointState
	inputs string
}

func (o *jointOp) DiffWRT(n int) []bool { return allTrue(n) }

func (o *jointOp) SymDiff(inputs G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return o.symDiffNeeded(inputs, out, grad, allTrue(len(inputs)))
}

// symDiffNeeded is SymDiff building only the gradients marked in need (nil for the others).
func (o *jointOp) symDiffNeeded(inputs G.Nodes, _, grad *G.Node, need []bool) (G.Nodes, error) {
	out := make(G.Nodes, len(inputs))
	children := append(inputs[:len(inputs):len(inputs)], grad)
	for i := range out {
		if !need[i] {
			continue
		}
		n, err := apply(&jointGradOp{newBase(fmt.Sprintf("%s.d%c", o.name, o.inputs[i]), len(children), opType{mats: len(children)}, same(i)), o.st, i},
			children...)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// jointGradOp returns the gradient of input which of a joint op; the first of the op's
// backward ops to run in a step computes them all.
type jointGradOp struct {
	base
	st    jointState
	which int
}

func (o *jointGradOp) countUses(uses int) { o.st.grads().uses[o.which] = uses }

func (o *jointGradOp) Do(in ...G.Value) (G.Value, error) {
	g := o.st.grads()
	if g.gradVer != g.ver {
		for i, v := range in {
			x, r, c := o.mat(v)
			g.x[i] = x
			if i < len(g.d) {
				g.d[i] = o.outUses(r, c, g.uses[i])
				g.dd[i], _, _ = o.mat(g.d[i])
			}
		}
		err := o.st.backward(&o.base, g.dd, g.x)
		clear(g.dd)
		clear(g.x)
		if err != nil {
			return nil, err
		}
		g.gradVer = g.ver
		for i, d := range g.d {
			if g.uses[i] == 0 { // not needed: that input gets no gradient
				o.dropValue(d)
			}
		}
	}
	o.done(in)
	return g.d[o.which], nil
}
