package train

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// selectRowsRef is the rows of x [.., c] in the order of rows, in float64.
func selectRowsRef(x []float64, c int, rows []int) []float64 {
	var y []float64
	for _, r := range rows {
		y = append(y, x[r*c:(r+1)*c]...)
	}
	return y
}

// TestSelectRowsOpMatchesReference: the row selection op returns the step's rows of its input
// in order, and its gradient (the selected rows' gradients added back into their rows, zero
// elsewhere, a row selected twice getting both) equals central differences of Σ y·W on the
// reference.
func TestSelectRowsOpMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name string
		n, c int
		rows []int
	}{
		{"some rows", 5, 8, []int{3, 0, 4}},
		{"every row, permuted", 3, 16, []int{2, 0, 1}},
		{"repeated rows", 4, 8, []int{1, 0, 0, 0}}, // padded selections repeat row 0
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(6, uint64(tc.n)))
			xm, x := randMat(rng, tc.n, tc.c, 1)
			dym, dy := randMat(rng, len(tc.rows), tc.c, 1)

			op := newSelectRows("select", &stepInputs{rows: tc.rows}, tc.n, len(tc.rows))
			y, dx, _ := runOpGraph(t, op, dym, xm)
			require.Equal(t, f32(selectRowsRef(x, tc.c, tc.rows)), y, "forward")

			ref := func() []float64 { return selectRowsRef(x, tc.c, tc.rows) }
			require.Less(t, relErr(dx[0], refGrad(x, dy, ref)), 1e-3, "backward")
			for r := range tc.n {
				sel := false
				for _, s := range tc.rows {
					sel = sel || s == r
				}
				if !sel {
					require.Equal(t, make([]float32, tc.c), dx[0][r*tc.c:(r+1)*tc.c], "row %d is not selected", r)
				}
			}
		})
	}
}
