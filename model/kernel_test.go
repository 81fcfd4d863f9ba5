package model

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/kern"
)

func TestKernelName(t *testing.T) {
	require.Equal(t, kern.KernelName(), KernelName())
	require.NotEmpty(t, KernelName())
}

func TestGemmGFLOPS(t *testing.T) {
	for _, sz := range [][3]int{{1, 1, 1}, {3, 5, 7}, {64, 32, 48}} {
		for _, reps := range []int{1, 2, 3} {
			g := GemmGFLOPS(sz[0], sz[1], sz[2], reps)
			require.True(t, g > 0 && !math.IsInf(g, 0) && !math.IsNaN(g), "%v reps %d: %v", sz, reps, g)
		}
	}
	for _, bad := range [][4]int{{0, 1, 1, 1}, {1, 0, 1, 1}, {1, 1, 0, 1}, {1, 1, 1, 0}, {-1, 1, 1, 1}} {
		require.Panics(t, func() { GemmGFLOPS(bad[0], bad[1], bad[2], bad[3]) }, "%v", bad)
	}
}
