package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/kern"
)

// randomGrads fills the engine's gradients with random values (seeded).
func randomGrads(e *Engine, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 2))
	for _, p := range e.params {
		for _, g := range [][]float32{p.gradA, p.gradB} {
			for i := range g {
				g[i] = float32(rng.NormFloat64() * 1e-2)
			}
		}
	}
}

// oldUpdate is the former trainer sequence, the reference of Engine.Update: the norm in a
// sequential float64 pass, the gradients scaled in place when clipping, then one AdamW step
// per matrix, then (zero) ZeroGrad. It returns the norm.
func oldUpdate(e *Engine, o AdamW, lr, maxNorm float64, zero bool) float64 {
	var s float64
	for _, v := range allGrads(e) {
		s += float64(v) * float64(v)
	}
	norm := math.Sqrt(s)
	if maxNorm > 0 {
		if coef := maxNorm / (norm + 1e-6); coef < 1 {
			for _, p := range e.params {
				for _, g := range [][]float32{p.gradA, p.gradB} {
					for i := range g {
						g[i] *= float32(coef)
					}
				}
			}
		}
	}
	e.step++
	k := kern.AdamW{LR: lr, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay}
	for _, p := range e.params {
		if p.mA == nil {
			p.mA, p.vA = make([]float32, len(p.gradA)), make([]float32, len(p.gradA))
			p.mB, p.vB = make([]float32, len(p.gradB)), make([]float32, len(p.gradB))
		}
		k.Step(p.pair.A, p.gradA, p.mA, p.vA, e.step)
		k.Step(p.pair.B, p.gradB, p.mB, p.vB, e.step)
	}
	if zero {
		e.ZeroGrad()
	}
	return norm
}

// Engine.Update (fused norm, clipping, AdamW and zeroing) equals the former sequence bit for
// bit on the parameters and moments, and its norm equals the float64 reference.
func TestUpdateMatchesSeparatePasses(t *testing.T) {
	m := stories(t)
	o := AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
	for _, tc := range []struct {
		name    string
		maxNorm float64
		zero    bool
		clipped bool
	}{
		{"no clipping", 0, false, false},
		{"no clipping, zero", 0, true, false},
		{"clipped", 0.05, false, true},
		{"clipped, zero", 0.05, true, true},
		{"clip above the norm", 1e3, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewEngine(m, smallAdapter(t, m, 0), 1)
			require.NoError(t, err)
			want, err := NewEngine(m, smallAdapter(t, m, 0), 1)
			require.NoError(t, err)
			for step := 1; step <= 3; step++ {
				randomGrads(got, uint64(step))
				randomGrads(want, uint64(step))
				grads := append([]float32(nil), allGrads(got)...)
				norm, err := got.Update(o, 1e-3, UpdateOptions{MaxGradNorm: tc.maxNorm, ZeroGrad: tc.zero})
				require.NoError(t, err)
				ref := oldUpdate(want, o, 1e-3, tc.maxNorm, tc.zero)
				require.InEpsilon(t, ref, norm, 1e-6, "step %d norm", step)
				require.Equal(t, tc.clipped, tc.maxNorm > 0 && ref > tc.maxNorm, "test case")
				require.Equal(t, step, got.Steps())
				for i, p := range got.params {
					q := want.params[i]
					for _, c := range []struct {
						s    string
						a, b []float32
					}{{"A", p.pair.A, q.pair.A}, {"B", p.pair.B, q.pair.B}, {"mA", p.mA, q.mA}, {"vA", p.vA, q.vA}, {"mB", p.mB, q.mB}, {"vB", p.vB, q.vB}} {
						require.Equal(t, c.b, c.a, "step %d %s %s", step, p.name, c.s)
					}
				}
				// The stored gradients are cleared, or left as they were (unscaled).
				if tc.zero {
					require.Equal(t, make([]float32, len(grads)), allGrads(got))
					require.Zero(t, got.GradNorm())
				} else {
					require.Equal(t, grads, allGrads(got))
					require.InEpsilon(t, ref, got.GradNorm(), 1e-6)
				}
			}
		})
	}
	e, err := NewEngine(m, smallAdapter(t, m, 0), 1)
	require.NoError(t, err)
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		_, err := e.Update(o, 1e-3, UpdateOptions{MaxGradNorm: bad})
		require.Error(t, err, "max norm %v", bad)
	}
	require.Zero(t, e.Steps())
}
