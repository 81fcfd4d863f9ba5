package model

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/kern"
)

// TestThreadsCap checks the per-model and per-call caps on kernel goroutines: the model
// starts uncapped, SetThreads sets and clamps its cap, and a pass gives the same logits, bit
// for bit with the assembly kernels, whatever cap it runs under (each kernel computes every
// output element on one goroutine in one order).
func TestThreadsCap(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	m := loadModel(t, filepath.Join("..", "testdata", "qwen3-tiny", "model"))
	require.Equal(t, 0, m.Threads())
	m.SetThreads(-2)
	require.Equal(t, 0, m.Threads(), "a negative cap means no cap")
	b, err := NewBatch(randRows(5, m.Config.VocabSize, 40, 33, 40, 12), 0)
	require.NoError(t, err)
	ctx := context.Background()
	ref, err := m.Forward(ctx, b, Options{})
	require.NoError(t, err)
	for _, tc := range []struct{ model, call int }{{1, 0}, {3, 0}, {0, 1}, {0, 2}, {2, 1}} {
		m.SetThreads(tc.model)
		require.Equal(t, tc.model, m.Threads())
		require.Equal(t, tc.model, int(m.threadsFor(0)))
		if tc.call > 0 {
			require.Equal(t, tc.call, int(m.threadsFor(tc.call)), "the call's cap wins")
		}
		out, err := m.Forward(ctx, b, Options{Threads: tc.call})
		require.NoError(t, err)
		if kern.KernelName() == "purego" {
			// The portable uncapped GEMM is gonum's, another summation order.
			require.InDeltaSlice(t, ref.Logits, out.Logits, 1e-4, "model cap %d, call cap %d", tc.model, tc.call)
		} else {
			require.Equal(t, ref.Logits, out.Logits, "model cap %d, call cap %d", tc.model, tc.call)
		}
		gen, err := m.Generate(ctx, []int{1, 2, 3}, 4, GenerateOptions{Threads: tc.call})
		require.NoError(t, err)
		require.Len(t, gen, 7)
	}
}
