package kern

import (
	"slices"
	"testing"
)

// BenchmarkAttention times attention at the Qwen3-0.6B training shape (batch 4 x 96 tokens,
// 16 query heads, 8 key/value heads, head dimension 128): the forward pass saving probs and
// the backward pass.
func BenchmarkAttention(b *testing.B) {
	s := AttnShape{B: 4, T: 96, Hq: 16, Hkv: 8, D: 128}
	rng := newRNG(10)
	q, k, v := randQKV(rng, s.cached())
	out := make([]float32, len(q))
	probs := make([]float32, s.B*s.Hq*s.T*s.T)
	scale := invSqrt(s.D)
	// Forward flops: Q·Kᵀ and P·V, full square (what the unblocked loops did).
	fwd := 4 * float64(s.B*s.Hq*s.T*s.T*s.D)
	b.Run("forward", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Attention(out, q, k, v, probs, nil, s, scale)
		}
		b.ReportMetric(fwd*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	dq := make([]float32, len(q))
	dk := make([]float32, len(k))
	dv := make([]float32, len(v))
	b.Run("backward", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			AttentionBackward(dq, dk, dv, out, q, k, v, probs, s, scale)
		}
		b.ReportMetric(2*fwd*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

// BenchmarkAttentionCached times inference attention of 16 new tokens against 112 keys (96
// cached) at the Qwen3-0.6B head layout, batch 4, and one-token decoding.
func BenchmarkAttentionCached(b *testing.B) {
	for _, tc := range []struct {
		name string
		s    CachedShape
	}{
		{"Tq16_Tk112", CachedShape{B: 4, Tq: 16, Tk: 112, Cap: 128, Hq: 16, Hkv: 8, D: 128}},
		{"Tq1_Tk112", CachedShape{B: 4, Tq: 1, Tk: 112, Cap: 128, Hq: 16, Hkv: 8, D: 128}},
	} {
		s := tc.s
		rng := newRNG(13)
		q, k, v := randQKV(rng, s)
		mask := slices.Repeat([]float32{1}, s.B*s.slots())
		out := make([]float32, len(q))
		scale := invSqrt(s.D)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				AttentionCached(out, q, k, v, mask, s, scale)
			}
		})
	}
}
