package train

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"
)

// tensorPoolOn reports whether gorgonia/tensor's struct pool is on. The package has no getter;
// tensor.ReturnTensor wipes a *tensor.Dense (type, shape and data) only while the pool is on.
func tensorPoolOn() bool {
	d := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 2, 3, 4}))
	tensor.ReturnTensor(d)
	return d.Dtype().Type == nil
}

// others stands for the other users of gorgonia/tensor in the process: it takes every struct
// the pool holds and keeps the tensors made from them. A value of the engine's handed to the
// pool after a step would be one of them, and the engine would wipe or overwrite it on a
// later step.
type others []*tensor.Dense

func (o *others) take() {
	for range tensor.PoolSize + 8 {
		*o = append(*o, tensor.New(tensor.WithShape(1, 3), tensor.WithBacking([]float32{-7, -7, -7})))
	}
}

// intact fails the test if a tensor taken by take has been wiped or changed.
func (o others) intact(t *testing.T) {
	t.Helper()
	for i, d := range o {
		require.NotNil(t, d.Dtype().Type, "tensor %d was returned to the pool by someone else", i)
		require.Equal(t, tensor.Shape{1, 3}, d.Shape(), "tensor %d", i)
		require.Equal(t, []float32{-7, -7, -7}, d.Data(), "tensor %d", i)
	}
}

// trainSteps runs three accumulate-and-step rounds on batches of two shapes (so that a graph
// is reused after another has run) and returns the losses and the final adapter. With churn,
// others take the pool's structs between steps, and what they hold must stay intact.
func trainSteps(t *testing.T, churn bool) ([]float64, []float32) {
	t.Helper()
	m := stories(t)
	a := smallAdapter(t, m, 0.1)
	e, err := NewEngine(m, a, 3)
	require.NoError(t, err)
	xs := synthetic(12, 4)
	var losses []float64
	var o others
	for i := range 6 {
		lo := (i % 2) * 6
		n := 3 + 3*(i%2)
		b, labels, err := Collate(xs[lo:lo+n], 0)
		require.NoError(t, err)
		loss, _, err := e.Accumulate(context.Background(), b, labels, 0.25)
		require.NoError(t, err)
		losses = append(losses, loss)
		require.NoError(t, e.Step(DefaultAdamW(), 1e-2))
		e.ZeroGrad()
		if churn {
			o.intact(t)
			o.take()
		}
	}
	return losses, adapterWeights(a)
}

// Training leaves gorgonia/tensor's pool setting as it found it (NewEngine used to turn the
// pool off for the whole process), and gives the same results whether the pool is on, and
// used by others between steps, or off.
func TestEngineLeavesTensorPoolAlone(t *testing.T) {
	require.True(t, tensorPoolOn(), "tensor's default")
	lossOn, wOn := trainSteps(t, true)
	require.True(t, tensorPoolOn(), "the pool is still on after NewEngine and training steps")

	tensor.DontUsePool()
	t.Cleanup(tensor.UsePool)
	require.False(t, tensorPoolOn())
	lossOff, wOff := trainSteps(t, false)
	require.False(t, tensorPoolOn(), "a pool turned off stays off")

	require.Equal(t, lossOff, lossOn)
	require.Equal(t, wOff, wOn)
}
