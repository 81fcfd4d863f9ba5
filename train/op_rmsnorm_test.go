package train

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/reftest"
)

// TestRMSNormOpMatchesReference: the RMSNorm op's output equals the float64 reference, over
// whole rows and over heads (n smaller than the row), with an eps that matters; its gradient
// equals central differences of Σ y·W on the reference.
func TestRMSNormOpMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rows, cols int
		n          int
		eps, std   float64
	}{
		{"rows", 3, 16, 16, 1e-6, 1},
		{"heads", 2, 16, 8, 1e-5, 1},
		{"large eps", 2, 8, 8, 0.5, 0.3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.n)))
			xm, x := randMat(rng, tc.rows, tc.cols, tc.std)
			w := make([]float32, tc.n)
			w64 := make([]float64, tc.n)
			for i := range w {
				w[i] = float32(1 + 0.2*rng.NormFloat64())
				w64[i] = float64(w[i])
			}
			dym, dy := randMat(rng, tc.rows, tc.cols, 1)

			op := newRMSNorm("norm", w, tc.n, float32(tc.eps))
			y, dx, _ := runOpGraph(t, op, dym, xm)
			ref := func() []float64 { return reftest.RMSNorm(x, w64, tc.n, tc.eps) }
			require.Less(t, relErr(y, f32(ref())), 1e-5, "forward")
			require.Less(t, relErr(dx[0], refGrad(x, dy, ref)), 1e-3, "backward")
		})
	}
}
