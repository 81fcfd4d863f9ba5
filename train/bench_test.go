package train

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// BenchmarkTrainStepQwen3_06B times one training step (forward, backward, AdamW) of a rank-128
// adapter on all seven projections of a random model of Qwen3-0.6B's shape, batch 4 x 96, the
// loss on one position per row (as the survey's rating digit).
//
//	go test ./train -run '^$' -bench TrainStep -benchtime 2x -cpuprofile cpu.prof
//	go tool pprof -top train.test cpu.prof
func BenchmarkTrainStepQwen3_06B(b *testing.B) {
	m, err := model.Random(model.Qwen3_0_6B, 1)
	if err != nil {
		b.Fatal(err)
	}
	a, err := lora.New(m, lora.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	e, err := NewEngine(m, a, 1)
	if err != nil {
		b.Fatal(err)
	}
	const B, T = 4, 96
	rng := rand.New(rand.NewPCG(3, 3))
	batch := model.Batch{B: B, T: T, IDs: make([]int32, B*T)}
	labels := make([]int32, B*T)
	for i := range batch.IDs {
		batch.IDs[i] = int32(rng.IntN(m.Config.VocabSize))
		labels[i] = IgnoreIndex
		if i%T == T-1 {
			labels[i] = batch.IDs[i]
		}
	}
	ctx := context.Background()
	opt := DefaultAdamW()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.ZeroGrad()
		if _, _, err := e.Accumulate(ctx, batch, labels, 1.0/B); err != nil {
			b.Fatal(err)
		}
		if err := e.Step(opt, 1e-4); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "samples/s")
}
