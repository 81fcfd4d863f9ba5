package train

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// TestFusedProjectionMatchesSeparate: the fused adapted projection (x Wᵀ and x Aᵀ from one
// stacked product, dx from one product over [W ; A]) gives the loss and LoRA gradients of the
// separate projection, LoRA branch and sum, on the PEFT fixtures and on stories260k with a
// partial adapter (projections without LoRA, inputs that need no gradient).
func TestFusedProjectionMatchesSeparate(t *testing.T) {
	type setup struct {
		m      *model.Model
		a      *lora.Adapter
		batch  model.Batch
		labels []int32
	}
	cases := map[string]func(t *testing.T) setup{}
	for _, name := range peftFixtures {
		cases[name] = func(t *testing.T) setup {
			f := loadFixture(t, name)
			return setup{f.m, f.a, f.batch, f.labels}
		}
	}
	cases["stories260k-partial"] = func(t *testing.T) setup {
		m := stories(t)
		cfg := lora.DefaultConfig()
		cfg.Rank, cfg.Alpha, cfg.Seed, cfg.RSLoRA = 6, 8, 3, true
		cfg.Targets, cfg.Layers = []model.Proj{model.ProjQ, model.ProjV, model.ProjDown}, []int{0, 2}
		a, err := lora.New(m, cfg)
		require.NoError(t, err)
		a.Each(func(_ int, _ model.Proj, pr *lora.Pair) {
			for i := range pr.B {
				pr.B[i] = float32(i%7-3) * 0.01
			}
		})
		b, labels := labelledBatch(2, 11, 3, func(i int) int32 { return int32(5 + (i*37)%300) }, sameToken)
		return setup{m, a, b, labels}
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			run := func(fuse bool) (float64, *Engine) {
				defer func(old bool) { fuseLoRA = old }(fuseLoRA)
				fuseLoRA = fuse
				e, err := NewEngine(s.m, s.a, 1)
				require.NoError(t, err)
				sum, _, err := e.Accumulate(context.Background(), s.batch, s.labels, 1)
				require.NoError(t, err)
				return sum, e
			}
			lf, ef := run(true)
			ls, es := run(false)
			require.InDelta(t, ls, lf, 1e-5*max(1, ls))
			s.a.Each(func(l int, p model.Proj, _ *lora.Pair) {
				fa, fb := ef.Grad(l, p)
				sa, sb := es.Grad(l, p)
				require.Less(t, relErr(fa, sa), 1e-5, "layer %d %v: dA", l, p)
				require.Less(t, relErr(fb, sb), 1e-5, "layer %d %v: dB", l, p)
			})
		})
	}
}
