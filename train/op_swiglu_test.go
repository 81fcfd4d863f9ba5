package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// swigluRef is silu(g)·u in float64.
func swigluRef(g, u []float64) []float64 {
	h := make([]float64, len(g))
	for i := range g {
		h[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
	}
	return h
}

// TestSwiGLUOpMatchesReference: the SwiGLU op's output equals silu(g)·u in float64 (small and
// saturating gates); the gradients of g and u, computed together by its joint backward,
// equal central differences of Σ h·W on the reference; release drops the gradients it kept.
func TestSwiGLUOpMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rows, cols int
		gateStd    float64
	}{
		{"small", 2, 8, 1},
		{"wide", 3, 16, 1},
		{"saturating", 2, 16, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(tc.cols)))
			gm, g := randMat(rng, tc.rows, tc.cols, tc.gateStd)
			um, u := randMat(rng, tc.rows, tc.cols, 1)
			dhm, dh := randMat(rng, tc.rows, tc.cols, 1)

			op := newSwiGLU("swiglu")
			h, d, p := runOpGraph(t, op, dhm, gm, um)
			require.Less(t, relErr(h, f32(swigluRef(g, u))), 1e-5, "forward")

			loss := func() float64 { return dot(swigluRef(g, u), dh) }
			require.Less(t, relErr(d[0], numGrad(g, 1e-6, loss)), 1e-3, "dg")
			require.Less(t, relErr(d[1], numGrad(u, 1e-6, loss)), 1e-3, "du")

			require.Equal(t, op.st.ver, op.st.gradVer, "one backward computed both gradients")
			require.NotContains(t, op.st.d, nil)
			p.release()
			for i, x := range op.st.d {
				require.Nil(t, x, "gradient %d kept after release", i)
			}
		})
	}
}
