package train

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/reftest"
)

// TestLoRAOpMatchesReference: the LoRA branch y = scale · (x Aᵀ) Bᵀ equals the float64
// product, at rank 1 and at a rank above one; the gradients of x, A and B (one backward op
// each, sharing u = dy B) equal central differences of Σ y·dy; t = x Aᵀ and u are given back
// as soon as their last reader has run.
func TestLoRAOpMatchesReference(t *testing.T) {
	const n, in, out = 4, 24, 16
	for _, r := range []int{1, 6} {
		rng := rand.New(rand.NewPCG(7, uint64(r)))
		xm, x := randMat(rng, n, in, 1)
		am, a := randMat(rng, r, in, 0.3)
		bm, b := randMat(rng, out, r, 0.3)
		dym, dy := randMat(rng, n, out, 1)
		scale := 4 / float64(r)

		op := newLoRA("lora", out, float32(scale))
		y, d, _ := runOpGraph(t, op, dym, xm, am, bm)
		ref := func() []float64 {
			y := make([]float64, n*out)
			for i := range n {
				for o := range out {
					for k := range r {
						y[i*out+o] += scale * reftest.Dot(x[i*in:(i+1)*in], a[k*in:(k+1)*in]) * b[o*r+k]
					}
				}
			}
			return y
		}
		require.Less(t, relErr(y, f32(ref())), 1e-5, "rank %d: forward", r)
		for i, v := range [][]float64{x, a, b} {
			require.Less(t, relErr(d[i], refGrad(v, dy, ref)), 1e-3, "rank %d: gradient of %c", r, "xAB"[i])
		}

		require.Nil(t, op.st.t, "rank %d: t kept after dB read it", r)
		require.Nil(t, op.st.u, "rank %d: u kept after dx and dA read it", r)
	}
}
