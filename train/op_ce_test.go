package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/reftest"
)

// ceRef is Σ -log softmax(row)[target] over the rows of logits [len(targets), v] in float64,
// rows of target -1 ignored, and the number of rows counted.
func ceRef(logits []float64, v int, targets []int32) (float64, int) {
	var sum float64
	count := 0
	for r, tg := range targets {
		if tg < 0 {
			continue
		}
		row := logits[r*v : (r+1)*v]
		var z float64
		for _, x := range row {
			z += math.Exp(x)
		}
		sum += math.Log(z) - row[tg]
		count++
	}
	return sum, count
}

// TestCEOpMatchesReference: the cross-entropy op returns scale · Σ -log softmax[target] (the
// mean with scale = 1/count) and records the unscaled sum and the count, ignored rows left
// out; its gradient, times the incoming one, equals central differences of seed · loss on
// the reference (zero on ignored rows).
func TestCEOpMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name    string
		v       int
		targets []int32
		scale   float32 // 0: the mean, 1/count
		seed    float32
	}{
		{"sum", 8, []int32{3, 0, 7}, 1, 1},
		{"mean with an ignored row", 12, []int32{5, -1, 11, 2}, 0, 1},
		{"scaled, seeded", 16, []int32{1, 9}, 0.3, 2.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(4, uint64(tc.v)))
			lm, logits := randMat(rng, len(tc.targets), tc.v, 3)
			refSum, refCount := ceRef(logits, tc.v, tc.targets)
			scale := tc.scale
			if scale == 0 {
				scale = 1 / float32(refCount)
			}
			in := &stepInputs{targets: tc.targets, scale: scale}

			op := newCE("loss", in)
			loss, dl, _ := runOpGraph(t, op, tc.seed, lm)
			require.InEpsilon(t, float64(scale)*refSum, float64(loss[0]), 1e-5, "loss")
			require.InEpsilon(t, refSum, op.sum, 1e-6, "unscaled sum")
			require.Equal(t, refCount, op.count)

			num := reftest.NumGrad(logits, func() float64 {
				s, _ := ceRef(logits, tc.v, tc.targets)
				return float64(tc.seed) * float64(scale) * s
			})
			require.Less(t, relErr(dl[0], f32(num)), 1e-3, "backward")
			for r, tg := range tc.targets {
				if tg < 0 {
					require.Equal(t, make([]float32, tc.v), dl[0][r*tc.v:(r+1)*tc.v], "ignored row %d", r)
				}
			}
		})
	}
}
