package train

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/kern"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

func gradKey(l int, p model.Proj, ab string) string {
	return fmt.Sprintf("base_model.model.model.layers.%d.%s.lora_%s.weight", l, p.Module(), ab)
}

func TestGradientsMatchPEFT(t *testing.T) {
	eachFixture(t, func(t *testing.T, f *fixture) {
		ref := f.tensors(t, "lora_grads.safetensors")
		e, err := NewEngine(f.m, f.a, 1)
		require.NoError(t, err)
		sum, count, err := e.Accumulate(context.Background(), f.batch, f.labels, 1)
		require.NoError(t, err)
		require.Equal(t, 4, count)
		loss := sum / float64(count)
		t.Logf("loss %.7f reference %.7f", loss, f.g["train.loss0"].F32[0])
		require.InDelta(t, f.g["train.loss0"].F32[0], loss, 1e-5)

		// The mean loss's gradient: run again with scale 1/count.
		e.ZeroGrad()
		_, _, err = e.Accumulate(context.Background(), f.batch, f.labels, 1/float32(count))
		require.NoError(t, err)
		worst := 0.0
		f.a.Each(func(l int, p model.Proj, _ *lora.Pair) {
			dA, dB := e.Grad(l, p)
			for _, c := range []struct {
				ab string
				g  []float32
			}{{"A", dA}, {"B", dB}} {
				r := ref[gradKey(l, p, c.ab)]
				require.Len(t, c.g, len(r.F32))
				re := relErr(c.g, r.F32)
				worst = max(worst, re)
				require.LessOrEqual(t, re, 1e-4, "layer %d %s lora_%s", l, p, c.ab)
			}
		})
		t.Logf("worst gradient relative error %.3g", worst)
	})
}

func TestAdamWMatchesTorch(t *testing.T) {
	eachFixture(t, func(t *testing.T, f *fixture) {
		ref := f.tensors(t, "lora_after_3_adamw_steps.safetensors")
		e, err := NewEngine(f.m, f.a, 1)
		require.NoError(t, err)
		opt := AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
		for step := 0; step < 3; step++ {
			e.ZeroGrad()
			sum, count, err := e.Accumulate(context.Background(), f.batch, f.labels, 0.25)
			require.NoError(t, err)
			require.Equal(t, 4, count)
			require.InDelta(t, f.g["adamw.losses"].F32[step], sum/4, 2e-5, "loss before step %d", step+1)
			require.NoError(t, e.Step(opt, 1e-3))
		}
		require.Equal(t, 3, e.Steps())
		worst := 0.0
		f.a.Each(func(l int, p model.Proj, pr *lora.Pair) {
			for _, c := range []struct {
				ab string
				w  []float32
			}{{"A", pr.A}, {"B", pr.B}} {
				r := ref[gradKey(l, p, c.ab)].F32
				for i := range r {
					worst = max(worst, math.Abs(float64(c.w[i])-float64(r[i])))
				}
			}
		})
		t.Logf("AdamW weights after 3 steps: max abs err %.3g", worst)
		require.LessOrEqual(t, worst, 1e-5)
	})
}

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
