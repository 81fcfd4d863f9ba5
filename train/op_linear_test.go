package train

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/kern"
	"github.com/valora-go/valora/internal/reftest"
)

// TestLinearOpMatchesReference: the frozen projection y = x Wᵀ (the LM head, a projection
// without an adapter) equals the float64 product for a weight stored row-major, in the GEMM
// kernel's panel layout (read in place by the forward and backward products) and in
// bfloat16; its backward dx = dy W equals central differences of Σ y·dy.
func TestLinearOpMatchesReference(t *testing.T) {
	const n, in, out = 5, 48, 96 // out a multiple of every kernel's panel width
	for _, layout := range []string{"row-major", "panels", "bf16"} {
		t.Run(layout, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(6, uint64(len(layout))))
			wm, w64 := randMat(rng, out, in, 0.2)
			wd, _, _ := data(wm)
			w := &kern.Weight{Rows: out, Cols: in, DType: kern.F32, F32: wd}
			switch layout {
			case "panels":
				if !w.PackPanels() {
					t.Skip("this build's GEMM kernel has no panel layout")
				}
			case "bf16":
				w = &kern.Weight{Rows: out, Cols: in, DType: kern.BF16, Half: make([]uint16, len(wd))}
				for i, v := range wd {
					w.Half[i] = kern.F32ToBF16(v)
					w64[i] = float64(kern.BF16ToF32(w.Half[i]))
				}
			}
			xm, x := randMat(rng, n, in, 1)
			dym, dy := randMat(rng, n, out, 1)

			y, dx, _ := runOpGraph(t, newLinear("lm_head", w), dym, xm)
			ref := func() []float64 {
				y := make([]float64, n*out)
				for i := range n {
					for o := range out {
						y[i*out+o] = reftest.Dot(x[i*in:(i+1)*in], w64[o*in:(o+1)*in])
					}
				}
				return y
			}
			require.Less(t, relErr(y, f32(ref())), 1e-5, "forward")
			require.Less(t, relErr(dx[0], refGrad(x, dy, ref)), 1e-3, "backward")
		})
	}
}
