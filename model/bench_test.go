package model

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
)

// benchQwen3 is the random Qwen3-0.6B-shaped model of the benchmarks, built once per test
// binary (drawing its 600M weights takes several seconds, and a benchmark function runs more
// than once).
var benchQwen3 = sync.OnceValues(func() (*Model, error) { return Random(Qwen3_0_6BConfig(), 1) })

// benchBatch is a batch of B rows of T random token ids.
func benchBatch(b *testing.B, B, T, vocab int) Batch {
	b.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	rows := make([][]int, B)
	for i := range rows {
		rows[i] = make([]int, T)
		for j := range rows[i] {
			rows[i][j] = rng.IntN(vocab)
		}
	}
	batch, err := NewBatch(rows, 0)
	if err != nil {
		b.Fatal(err)
	}
	return batch
}

// BenchmarkForwardQwen3_06B scores a batch of 4 x 96 tokens (logits at the last position
// only, as a rating read-out does) on a random model of Qwen3-0.6B's shape. In steady state
// the pass allocates only its Output (see -benchmem).
//
//	go test ./model -run '^$' -bench ForwardQwen3 -benchtime 3x -benchmem
func BenchmarkForwardQwen3_06B(b *testing.B) {
	m, err := benchQwen3()
	if err != nil {
		b.Fatal(err)
	}
	const B, T = 4, 96
	batch := benchBatch(b, B, T, Qwen3_0_6BConfig().VocabSize)
	rows := batch.Last()
	ctx := context.Background()
	// One untimed pass fills the workspace pools.
	if _, err := m.Forward(ctx, batch, Options{Rows: rows}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Forward(ctx, batch, Options{Rows: rows}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(B*T*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
