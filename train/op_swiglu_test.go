package train

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/reftest"
)

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
			ref := func() []float64 { return reftest.SwiGLU(g, u) }
			require.Less(t, relErr(h, f32(ref())), 1e-5, "forward")
			require.Less(t, relErr(d[0], refGrad(g, dh, ref)), 1e-3, "dg")
			require.Less(t, relErr(d[1], refGrad(u, dh, ref)), 1e-3, "du")

			require.Equal(t, op.st.ver, op.st.gradVer, "one backward computed both gradients")
			require.NotContains(t, op.st.d, nil)
			p.release()
			for i, x := range op.st.d {
				require.Nil(t, x, "gradient %d kept after release", i)
			}
		})
	}
}
