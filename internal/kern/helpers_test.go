package kern

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// skipUnderRace skips an allocation count under the race detector, which drops sync.Pool items
// at random: the counts would not be the steady state's.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("the race detector drops sync.Pool items: allocation counts are not the steady state's")
	}
}

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// requireClose checks got against want element-wise with
// |got-want| <= tol*(|want| + rms(want)) (rms floor 1e-3 guards tiny outputs).
func requireClose(t *testing.T, want []float64, got []float32, tol float64, msg string) {
	t.Helper()
	require.Len(t, got, len(want), msg)
	var ss float64
	for _, w := range want {
		ss += w * w
	}
	rms := math.Max(math.Sqrt(ss/math.Max(float64(len(want)), 1)), 1e-3)
	for i, w := range want {
		g := float64(got[i])
		if math.IsNaN(g) || math.Abs(g-w) > tol*(math.Abs(w)+rms) {
			require.Failf(t, "mismatch", "%s: element %d: got %.9g want %.9g (tol %.3g, rms %.3g)", msg, i, g, w, tol, rms)
		}
	}
}

func TestParallelForCoversEachIndexOnce(t *testing.T) {
	for _, tc := range []struct{ n, grain int }{{0, 1}, {1, 1}, {5, 1}, {7, 3}, {100, 0}, {1000, 7}, {1000, 5000}} {
		hits := make([]int32, tc.n)
		ParallelFor(tc.n, tc.grain, func(lo, hi int) {
			require.LessOrEqual(t, lo, hi)
			for i := lo; i < hi; i++ {
				hits[i]++ // chunks are disjoint, so no race
			}
		})
		for i, h := range hits {
			require.EqualValues(t, 1, h, "n=%d grain=%d index %d", tc.n, tc.grain, i)
		}
	}
}
