package lora

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/valora-go/valora/model"
)

// benchQwen3LoRA is the random Qwen3-0.6B-shaped model and default adapter of the
// benchmarks, built once per test binary (a benchmark function runs more than once).
var benchQwen3LoRA = sync.OnceValues(func() (struct {
	m *model.Model
	a *Adapter
}, error) {
	var out struct {
		m *model.Model
		a *Adapter
	}
	m, err := model.Random(model.Qwen3_0_6BConfig(), 1)
	if err != nil {
		return out, err
	}
	a, err := New(m, DefaultConfig())
	if err != nil {
		return out, err
	}
	rng := rand.New(rand.NewPCG(3, 3))
	a.Each(func(_ int, _ model.Proj, p *Pair) {
		for i := range p.B {
			p.B[i] = float32(rng.NormFloat64() * 1e-3)
		}
	})
	out.m, out.a = m, a
	return out, nil
})

// BenchmarkForwardQwen3LoRA scores a batch of 4 x 96 tokens (logits at the last position
// only) on a random model of Qwen3-0.6B's shape through an unmerged adapter of the protocol's
// setting (DefaultConfig: rank 128, alpha 512, all seven projections of every layer), as
// scoring with a trained adapter does. B is filled with small random values so that the
// adapter's update is not zero. In steady state the pass allocates only its Output.
//
//	go test ./lora -run '^$' -bench ForwardQwen3LoRA -benchtime 3x -benchmem
func BenchmarkForwardQwen3LoRA(b *testing.B) {
	bm, err := benchQwen3LoRA()
	if err != nil {
		b.Fatal(err)
	}
	m, a := bm.m, bm.a
	rng := rand.New(rand.NewPCG(7, 7))
	const B, T = 4, 96
	rows := make([][]int, B)
	for i := range rows {
		rows[i] = make([]int, T)
		for j := range rows[i] {
			rows[i][j] = rng.IntN(model.Qwen3_0_6BConfig().VocabSize)
		}
	}
	batch, err := model.NewBatch(rows, 0)
	if err != nil {
		b.Fatal(err)
	}
	last := batch.Last()
	ctx := context.Background()
	opt := model.Options{Rows: last, Adapter: a}
	// One untimed pass fills the workspace pools.
	if _, err := m.Forward(ctx, batch, opt); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Forward(ctx, batch, opt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(B*T*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
