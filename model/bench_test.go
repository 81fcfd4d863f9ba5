package model

import (
	"context"
	"math/rand/v2"
	"testing"
)

// BenchmarkForwardQwen3_06B scores a batch of 4 x 96 tokens (logits at the last position
// only, as a rating read-out does) on a random model of Qwen3-0.6B's shape.
//
//	go test ./model -run '^$' -bench ForwardQwen3 -benchtime 3x
func BenchmarkForwardQwen3_06B(b *testing.B) {
	m, err := Random(Qwen3_0_6B, 1)
	if err != nil {
		b.Fatal(err)
	}
	const B, T = 4, 96
	rng := rand.New(rand.NewPCG(7, 7))
	rows := make([][]int, B)
	for i := range rows {
		rows[i] = make([]int, T)
		for j := range rows[i] {
			rows[i][j] = rng.IntN(Qwen3_0_6B.VocabSize)
		}
	}
	batch, err := NewBatch(rows, 0)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Forward(ctx, batch, Options{Rows: batch.Last()}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(B*T*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
