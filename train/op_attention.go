package train

// Training-graph op: Causal grouped-query attention.

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"

	"github.com/valora-go/valora/internal/kern"
)

// attnOp is attention over (q, k, v): over whole rows (plainAttn), or over rows that share
// prefixes (sharedAttn, shared.go).
type attnOp struct {
	jointOp
	st *attnState
}

// attnState keeps the softmax probabilities of the forward pass for the backward.
type attnState struct {
	jointGrads
	shape  kern.AttnShape // B rows of T tokens (with shared prefixes, the rows' own tokens)
	in     *stepInputs    // the step's mask (nil without padding); with shared prefixes, group and keyMask
	scale  float32
	pass   attnPass
	sizes  []int  // the lengths of the probability buffers pass writes
	probs  []*buf // the forward pass's probabilities (nil: not kept, or given back)
	noGrad bool   // no backward op runs: the probabilities are not kept
}

// attnPass is one way of computing attention: forward writes out and st.probs, backward the
// gradients dd (dq, dk, dv) from x (q, k, v, dout) and st.probs.
type attnPass interface {
	forward(o *base, st *attnState, out, q, k, v []float32)
	backward(o *base, st *attnState, dd, x [][]float32)
}

func newAttnOp(name string, s kern.AttnShape, in *stepInputs, scale float32, pass attnPass, sizes ...int) *attnOp {
	st := &attnState{jointGrads: newJointGrads(3), shape: s, in: in, scale: scale, pass: pass, sizes: sizes, probs: make([]*buf, len(sizes))}
	return &attnOp{jointOp{newBase(name, 3, matFn3, same(0)), st, "qkv"}, st}
}

func newAttention(name string, s kern.AttnShape, in *stepInputs, scale float32) *attnOp {
	return newAttnOp(name, s, in, scale, plainAttn{}, s.B*s.Hq*s.T*s.T)
}

func (o *attnOp) Do(in ...G.Value) (G.Value, error) {
	q, r, c := o.mat(in[0])
	k, _, _ := o.mat(in[1])
	v, _, _ := o.mat(in[2])
	o.st.begin(&o.base)
	out, od := o.newOut(r, c)
	o.st.pass.forward(&o.base, o.st, od, q, k, v)
	if o.st.noGrad {
		o.st.dropProbs(&o.base)
	}
	o.done(in)
	return out, nil
}

// begin starts a step's forward pass: the gradients of the last are stale, and its
// probabilities go back to the pool for this step's.
func (st *attnState) begin(o *base) {
	st.ver++
	st.dropProbs(o)
	for i, n := range st.sizes {
		st.probs[i] = o.scratch(n)
	}
}

func (st *attnState) backward(o *base, dd, x [][]float32) error {
	if slices.Contains(st.probs, nil) {
		return fmt.Errorf("%s: the forward pass's probabilities are gone", o.name)
	}
	st.pass.backward(o, st, dd, x)
	st.dropProbs(o)
	return nil
}

// dropProbs gives the probabilities back to the pool.
func (st *attnState) dropProbs(o *base) {
	for i, p := range st.probs {
		o.drop(p)
		st.probs[i] = nil
	}
}

func (o *attnOp) noBackward() { o.st.noGrad = true }

func (o *attnOp) release() {
	clear(o.st.probs)
	clear(o.st.d)
}

// plainAttn is attention over whole rows.
type plainAttn struct{}

func (plainAttn) forward(o *base, st *attnState, out, q, k, v []float32) {
	o.th().Attention(out, q, k, v, st.probs[0].data, st.in.mask, st.shape, st.scale)
}

func (plainAttn) backward(o *base, st *attnState, dd, x [][]float32) {
	o.th().AttentionBackward(dd[0], dd[1], dd[2], x[3], x[0], x[1], x[2], st.probs[0].data, st.shape, st.scale)
}
