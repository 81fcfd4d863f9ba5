package train

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLabelRows checks the causal shift: position i predicts labels[i+1] of the same row,
// ignored labels and a row's first label (predicted by nothing in the row) do not count.
func TestLabelRows(t *testing.T) {
	const I = IgnoreIndex
	for _, tc := range []struct {
		name    string
		labels  []int32
		t       int
		rows    []int
		targets []int32
	}{
		{"none", []int32{I, I, I, I}, 2, nil, nil},
		{"one row", []int32{I, I, 5, 6}, 4, []int{1, 2}, []int32{5, 6}},
		{"row starts are not predicted", []int32{I, 3, 4, 7}, 2, []int{0, 2}, []int32{3, 7}},
		{"two rows", []int32{I, 1, 2, 9, 3, 4}, 3, []int{0, 1, 3, 4}, []int32{1, 2, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, targets := labelRows(tc.labels, tc.t, nil, nil)
			if !slices.Equal(rows, tc.rows) || !slices.Equal(targets, tc.targets) {
				t.Errorf("labelRows = %v %v, want %v %v", rows, targets, tc.rows, tc.targets)
			}
		})
	}
}

func TestCollateLeftPadsAndLabelsAnswers(t *testing.T) {
	b, labels, err := Collate([]Example{{Prompt: []int{1, 5, 6}, Answer: []int{7}}, {Prompt: []int{1}, Answer: []int{8, 9}}}, 0)
	require.NoError(t, err)
	require.Equal(t, 2, b.B)
	require.Equal(t, 4, b.T)
	require.Equal(t, []int32{1, 5, 6, 7, 0, 1, 8, 9}, b.IDs)
	require.Equal(t, []float32{1, 1, 1, 1, 0, 1, 1, 1}, b.Mask)
	require.Equal(t, []int32{0, 1, 2, 3, 0, 0, 1, 2}, b.Pos)
	require.Equal(t, []int32{-100, -100, -100, 7, -100, -100, 8, 9}, labels)
}
