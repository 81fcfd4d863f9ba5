package train

import (
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/kern"
)

// TestThreadsCap checks the training side of the thread cap: an engine takes the model's cap
// unless its own is set, and two steps give the same losses and adapter whatever the cap
// (bit for bit with the assembly kernels: each output element is computed by one goroutine
// in one order).
func TestThreadsCap(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	run := func(modelCap, engineCap int) ([]float64, []float32) {
		m := stories(t)
		m.SetThreads(modelCap)
		a := smallAdapter(t, m, 0)
		e, err := NewEngine(m, a, 3)
		require.NoError(t, err)
		e.Threads = engineCap
		want := kern.Threads(modelCap)
		if engineCap > 0 {
			want = kern.Threads(engineCap)
		}
		require.Equal(t, want, e.threads())
		xs := synthetic(8, 4)
		var losses []float64
		for i := range 2 {
			b, labels, err := Collate(xs[4*i:4*i+4], 0)
			require.NoError(t, err)
			loss, _, err := e.Accumulate(context.Background(), b, labels, 0.25)
			require.NoError(t, err)
			require.Equal(t, want, e.pool.threads, "the step ran under the engine's cap")
			losses = append(losses, loss)
			_, err = e.Update(DefaultAdamW(), 1e-2, UpdateOptions{MaxGradNorm: 1, ZeroGrad: true})
			require.NoError(t, err)
		}
		return losses, adapterWeights(a)
	}
	refLoss, refW := run(0, 0)
	for _, c := range []struct{ model, engine int }{{1, 0}, {0, 1}, {3, 2}} {
		loss, w := run(c.model, c.engine)
		if kern.KernelName() == "purego" {
			require.InEpsilonSlice(t, refLoss, loss, 1e-5, "model cap %d, engine cap %d", c.model, c.engine)
			continue
		}
		require.Equal(t, refLoss, loss, "model cap %d, engine cap %d", c.model, c.engine)
		require.Equal(t, refW, w, "model cap %d, engine cap %d", c.model, c.engine)
	}
}
