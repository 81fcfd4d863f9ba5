package train

// Training-graph op: Causal grouped-query attention.

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/valora-go/valora/internal/kern"
)

// attnGrads holds the three input gradients of an attention op, computed together by the
// first of its backward ops to run in a step (attnGradOp), and the step counters that say
// whether they are current.
type attnGrads struct {
	dq, dk, dv   *tensor.Dense
	ver, gradVer int
	gradUses     [3]int // readers of dq, dk, dv (0: that gradient is not in the graph)
}

// attnBackward is what an attention op's state does in the backward pass: compute dq, dk, dv
// (overwritten) from the inputs, the incoming gradient and what the forward pass saved, then
// give the saved activations back to the pool through o.
type attnBackward interface {
	grads() *attnGrads
	backward(o *base, dq, dk, dv, dout, q, k, v []float32) error
}

func (g *attnGrads) grads() *attnGrads { return g }

// attnSymDiff builds the backward ops of an attention op over inputs (q, k, v), only those
// marked in need (nil for the others).
func attnSymDiff(name string, st attnBackward, inputs G.Nodes, grad *G.Node, need []bool) (G.Nodes, error) {
	out := make(G.Nodes, 3)
	for i, which := range []byte{'q', 'k', 'v'} {
		if !need[i] {
			continue
		}
		n, err := apply(&attnGradOp{newBase(fmt.Sprintf("%s.d%c", name, which), 4, matFn4, same(i)), st, i},
			inputs[0], inputs[1], inputs[2], grad)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// attnGradOp returns one of dq, dk, dv of an attention op; the first of them to run in a step
// computes all three.
type attnGradOp struct {
	base
	st    attnBackward
	which int
}

func (o *attnGradOp) countUses(uses int) { o.st.grads().gradUses[o.which] = uses }

func (o *attnGradOp) Do(in ...G.Value) (G.Value, error) {
	q, rq, cq := o.mat(in[0])
	k, rk, ck := o.mat(in[1])
	v, _, _ := o.mat(in[2])
	dout, _, _ := o.mat(in[3])
	g := o.st.grads()
	if g.gradVer != g.ver {
		g.dq, g.dk, g.dv = o.outUses(rq, cq, g.gradUses[0]), o.outUses(rk, ck, g.gradUses[1]), o.outUses(rk, ck, g.gradUses[2])
		dq, _, _ := o.mat(g.dq)
		dk, _, _ := o.mat(g.dk)
		dv, _, _ := o.mat(g.dv)
		if err := o.st.backward(&o.base, dq, dk, dv, dout, q, k, v); err != nil {
			return nil, err
		}
		g.gradVer = g.ver
		for i, d := range []*tensor.Dense{g.dq, g.dk, g.dv} {
			if g.gradUses[i] == 0 { // not needed: that input gets no gradient
				o.dropValue(d)
			}
		}
	}
	o.done(in)
	return [...]*tensor.Dense{g.dq, g.dk, g.dv}[o.which], nil
}

// attnState keeps the softmax probabilities of the forward pass for the backward.
type attnState struct {
	attnGrads
	shape  kern.AttnShape
	in     *stepInputs // the step's mask (in.mask: nil when the batch has no padding)
	scale  float32
	probs  *buf
	noGrad bool // no backward op runs: the probabilities are not kept
}

func (st *attnState) backward(o *base, dq, dk, dv, dout, q, k, v []float32) error {
	if st.probs == nil {
		return fmt.Errorf("%s: the forward pass's probabilities are gone", o.name)
	}
	o.th().AttentionBackward(dq, dk, dv, dout, q, k, v, st.probs.data, st.shape, st.scale)
	o.drop(st.probs)
	st.probs = nil
	return nil
}

type attnOp struct {
	base
	st *attnState
}

func newAttention(name string, s kern.AttnShape, in *stepInputs, scale float32) *attnOp {
	return &attnOp{newBase(name, 3, matFn3, same(0)), &attnState{shape: s, in: in, scale: scale}}
}

func (o *attnOp) Do(in ...G.Value) (G.Value, error) {
	q, r, c := o.mat(in[0])
	k, _, _ := o.mat(in[1])
	v, _, _ := o.mat(in[2])
	st := o.st
	s := st.shape
	st.ver++
	o.drop(st.probs)
	st.probs = o.scratch(s.B * s.Hq * s.T * s.T)
	out := o.out(r, c)
	od, _, _ := o.mat(out)
	o.th().Attention(od, q, k, v, st.probs.data, st.in.mask, s, st.scale)
	if st.noGrad {
		o.drop(st.probs)
		st.probs = nil
	}
	o.done(in)
	return out, nil
}

func (o *attnOp) noBackward() { o.st.noGrad = true }

func (o *attnOp) release() { o.st.probs, o.st.dq, o.st.dk, o.st.dv = nil, nil, nil, nil }

func (o *attnOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (o *attnOp) SymDiff(inputs G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return o.symDiffNeeded(inputs, out, grad, []bool{true, true, true})
}

// symDiffNeeded is SymDiff building only the gradients marked in need (nil for the others).
func (o *attnOp) symDiffNeeded(inputs G.Nodes, _, grad *G.Node, need []bool) (G.Nodes, error) {
	return attnSymDiff(o.name, o.st, inputs, grad, need)
}
