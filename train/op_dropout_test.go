package train

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// dropoutGraph compiles the step of a batch of 8 tokens of an engine (seed 7) training an
// adapter with dropout p on stories260k, and returns the engine and the graph's dropout ops
// and their backward ops, in graph order.
func dropoutGraph(t *testing.T, p float64) (*Engine, []*dropoutOp, []*dropoutGradOp) {
	t.Helper()
	m := stories(t)
	e, err := NewEngine(m, smallAdapter(t, m, p), 7)
	require.NoError(t, err)
	gr, err := e.graph(shapeKey{b: 1, t: 8, k: 8})
	require.NoError(t, err)
	var fwd []*dropoutOp
	var back []*dropoutGradOp
	for _, pt := range gr.parts() {
		for _, n := range pt.g.AllNodes() {
			switch o := n.Op().(type) {
			case *dropoutOp:
				fwd = append(fwd, o)
			case *dropoutGradOp:
				back = append(back, o)
			}
		}
	}
	return e, fwd, back
}

// TestDropoutOpMask: with p = 0 the step has no dropout op (the adapters read their
// projections' input unchanged); with p > 0 the engine's mask keeps each value with
// probability about 1-p, kept values scaled by 1/(1-p) and dropped ones zero, and the
// backward op applies the same mask (central differences of Σ y·W on x·mask), then gives it
// back.
func TestDropoutOpMask(t *testing.T) {
	for _, p := range []float64{0, 0.1, 0.5} {
		t.Run(fmt.Sprintf("p=%v", p), func(t *testing.T) {
			e, ops, _ := dropoutGraph(t, p)
			if p == 0 {
				require.Empty(t, ops)
				return
			}
			require.NotEmpty(t, ops)
			e.dropSeed = 11
			op := &dropoutOp{base: newBase("dropout", 1, matFn1, same(0)), p: ops[0].p, draw: ops[0].draw}
			rng := rand.New(rand.NewPCG(7, 7))
			xm, x := randMat(rng, 64, 64, 1)
			dym, dy := randMat(rng, 64, 64, 1)
			y, dx, _ := runOpGraph(t, op, dym, xm)
			require.True(t, op.hasGrad)
			require.Nil(t, op.mask, "the backward gave the mask back")

			mask := make([]float64, len(x))
			dropped := 0
			for i, v := range y {
				if v == 0 {
					dropped++
					continue
				}
				mask[i] = 1 / (1 - p)
				require.InEpsilon(t, x[i]*mask[i], float64(v), 1e-6, "kept value %d", i)
			}
			require.InDelta(t, p, float64(dropped)/float64(len(y)), 0.03, "fraction dropped")
			masked := func() []float64 {
				out := make([]float64, len(x))
				for i := range x {
					out[i] = x[i] * mask[i]
				}
				return out
			}
			require.Less(t, relErr(y, f32(masked())), 1e-6, "forward")
			require.Less(t, relErr(dx[0], refGrad(x, dy, masked)), 1e-5, "backward")
		})
	}
}

// TestDropoutOpDeterministic: a dropout op's mask depends only on the step's seed and the
// op's own stream: the same seed draws the same mask again, another seed or another op a
// different one; release drops the mask kept for the backward, which then fails.
func TestDropoutOpDeterministic(t *testing.T) {
	e, ops, back := dropoutGraph(t, 0.25)
	require.NotEmpty(t, back)
	grad := back[0] // a dropout op of a layer below a trained one gets no backward op
	op := grad.f
	require.True(t, op.hasGrad)
	other := ops[0]
	if other == op {
		other = ops[1]
	}
	xm, _ := randMat(rand.New(rand.NewPCG(8, 8)), 16, 16, 1)
	run := func(seed uint64, op *dropoutOp) []float32 {
		e.dropSeed = seed
		y, err := op.Do(xm)
		require.NoError(t, err)
		d, _, _ := e.pool.data(y)
		return append([]float32(nil), d...)
	}
	y := run(3, op)
	require.NotEqual(t, y, run(4, op), "another seed")
	require.NotEqual(t, y, run(3, other), "another op's stream")
	require.Equal(t, y, run(3, op), "the same seed and op")

	require.NotNil(t, op.mask, "kept for the backward")
	op.release()
	require.Nil(t, op.mask)
	_, err := grad.Do(xm)
	require.ErrorContains(t, err, "mask is gone")
}
