package model

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/valora-go/valora/internal/kern"
)

// qwen3_06B is Qwen3-0.6B's shape.
var qwen3_06B = Config{
	Architecture: "Qwen3ForCausalLM", ModelType: "qwen3", VocabSize: 151936, HiddenSize: 1024,
	IntermediateSize: 3072, NumLayers: 28, NumHeads: 16, NumKVHeads: 8, HeadDim: 128,
	RMSNormEps: 1e-6, RopeTheta: 1e6, Rope: RopeScaling{Type: "default"}, MaxPositions: 40960,
	TieWordEmbeddings: true, QKNorm: true, BOSTokenID: -1,
}

// randomModel builds a model of the given shape with small random float32 weights, in memory.
func randomModel(tb testing.TB, c Config, seed uint64) *Model {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	mat := func(rows, cols int) *kern.Weight {
		w := &kern.Weight{Rows: rows, Cols: cols, DType: kern.F32, F32: make([]float32, rows*cols)}
		for i := range w.F32 {
			w.F32[i] = float32(rng.NormFloat64() * 0.02)
		}
		return w
	}
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	m := &Model{Config: c, Embed: mat(c.VocabSize, c.HiddenSize), Norm: ones(c.HiddenSize)}
	m.LMHead = m.Embed
	qd, kvd := c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim
	shapes := [NumProj][2]int{{qd, c.HiddenSize}, {kvd, c.HiddenSize}, {kvd, c.HiddenSize}, {c.HiddenSize, qd},
		{c.IntermediateSize, c.HiddenSize}, {c.IntermediateSize, c.HiddenSize}, {c.HiddenSize, c.IntermediateSize}}
	m.Layers = make([]Layer, c.NumLayers)
	for l := range m.Layers {
		L := &m.Layers[l]
		L.InputNorm, L.PostNorm = ones(c.HiddenSize), ones(c.HiddenSize)
		if c.QKNorm {
			L.QNorm, L.KNorm = ones(c.HeadDim), ones(c.HeadDim)
		}
		for p := range NumProj {
			L.Proj[p] = mat(shapes[p][0], shapes[p][1])
		}
	}
	var err error
	m.rope, err = kern.NewRope(c.HeadDim, c.RopeTheta, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkForwardQwen3_06B scores a batch of 4 x 96 tokens (logits at the last position
// only, as a rating read-out does) on a random model of Qwen3-0.6B's shape.
//
//	go test ./model -run '^$' -bench ForwardQwen3 -benchtime 3x
func BenchmarkForwardQwen3_06B(b *testing.B) {
	m := randomModel(b, qwen3_06B, 1)
	const B, T = 4, 96
	rng := rand.New(rand.NewPCG(7, 7))
	rows := make([][]int, B)
	for i := range rows {
		rows[i] = make([]int, T)
		for j := range rows[i] {
			rows[i][j] = rng.IntN(qwen3_06B.VocabSize)
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
