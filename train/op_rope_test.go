package train

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/kern"
	"github.com/valora-go/valora/internal/reftest"
)

// TestRopeOpMatchesReference: the rope op rotates each head of each token as the float64
// rotate-half reference at the step's positions (read from the step inputs), on a copy of a
// graph input and in place on a pooled input read last here; its gradient (the inverse
// rotation) equals central differences of Σ y·W on the reference.
func TestRopeOpMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name     string
		heads, d int
		theta    float64
		pos      []int32
	}{
		{"two heads", 2, 8, 10000, []int32{0, 3, 7}},
		{"one wide head", 1, 16, 500000, []int32{5, 1, 30, 2}},
		{"four small heads", 4, 4, 10000, []int32{9, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, uint64(tc.d)))
			r, err := kern.NewRope(tc.d, tc.theta, nil)
			require.NoError(t, err)
			n, c := len(tc.pos), tc.heads*tc.d
			xm, x := randMat(rng, n, c, 1)
			dym, dy := randMat(rng, n, c, 1)

			op := newRope("rope", r, &stepInputs{pos: tc.pos}, tc.heads)
			y, dx, _ := runOpGraph(t, op, dym, xm)
			ref := func() []float64 { return reftest.Rope(x, r.InvFreq, tc.pos, tc.heads, tc.d) }
			require.Less(t, relErr(y, f32(ref())), 1e-5, "forward")
			xd, _, _ := data(xm)
			require.Equal(t, f32(x), xd, "a graph input is rotated on a copy")

			// A pooled input read last here is rotated in its own buffer, to the same values.
			pool := newPool()
			pool.begin()
			own := pool.mat(n, c, 1)
			od, _, _ := pool.data(own)
			copy(od, xd)
			inPlace := newRope("rope", r, &stepInputs{pos: tc.pos}, tc.heads)
			inPlace.setPool(pool, 1)
			yv, err := inPlace.Do(own)
			require.NoError(t, err)
			require.Same(t, own, yv)
			require.Equal(t, y, od)

			require.Less(t, relErr(dx[0], refGrad(x, dy, ref)), 1e-3, "backward")
		})
	}
}
