package train

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

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
