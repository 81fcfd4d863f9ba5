package kern

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// refAttention is causal GQA attention in float64; it returns out and probs.
func refAttention(q, k, v []float64, mask []float32, s AttnShape, scale float64) (out, probs []float64) {
	B, T, Hq, Hkv, D := s.B, s.T, s.Hq, s.Hkv, s.D
	out = make([]float64, B*T*Hq*D)
	probs = make([]float64, B*Hq*T*T)
	for b := 0; b < B; b++ {
		for h := 0; h < Hq; h++ {
			kh := h / (Hq / Hkv)
			for i := 0; i < T; i++ {
				p := probs[((b*Hq+h)*T+i)*T : ((b*Hq+h)*T+i+1)*T]
				mx := math.Inf(-1)
				var vis []int
				for j := 0; j <= i; j++ {
					if mask != nil && mask[b*T+j] == 0 {
						continue
					}
					vis = append(vis, j)
					var sc float64
					for d := 0; d < D; d++ {
						sc += q[((b*T+i)*Hq+h)*D+d] * k[((b*T+j)*Hkv+kh)*D+d]
					}
					p[j] = sc * scale
					mx = math.Max(mx, p[j])
				}
				var sum float64
				for _, j := range vis {
					p[j] = math.Exp(p[j] - mx)
					sum += p[j]
				}
				for _, j := range vis {
					p[j] /= sum
					for d := 0; d < D; d++ {
						out[((b*T+i)*Hq+h)*D+d] += p[j] * v[((b*T+j)*Hkv+kh)*D+d]
					}
				}
			}
		}
	}
	return out, probs
}

type attnCase struct {
	name string
	s    AttnShape
	mask func(B, T int) []float32
}

func leftPad(pads ...int) func(B, T int) []float32 {
	return func(B, T int) []float32 {
		m := make([]float32, B*T)
		for b := 0; b < B; b++ {
			for j := 0; j < T; j++ {
				if j >= pads[b%len(pads)] {
					m[b*T+j] = 1
				}
			}
		}
		return m
	}
}

func rightPad(lens ...int) func(B, T int) []float32 {
	return func(B, T int) []float32 {
		m := make([]float32, B*T)
		for b := 0; b < B; b++ {
			for j := 0; j < lens[b%len(lens)]; j++ {
				m[b*T+j] = 1
			}
		}
		return m
	}
}

var attnCases = []attnCase{
	{"single", AttnShape{1, 1, 1, 1, 4}, nil},
	{"mha", AttnShape{2, 5, 4, 4, 8}, nil},
	{"gqa2", AttnShape{2, 7, 4, 2, 16}, nil},
	{"gqa4 odd D", AttnShape{3, 9, 8, 2, 11}, nil},
	{"mqa", AttnShape{1, 6, 4, 1, 5}, nil},
	{"gqa2 left padding", AttnShape{2, 7, 4, 2, 16}, leftPad(0, 3)},
	{"gqa4 left padding", AttnShape{3, 9, 8, 2, 12}, leftPad(2, 0, 5)},
	{"mha right padding", AttnShape{2, 6, 2, 2, 8}, rightPad(6, 2)},
}

func TestAttention(t *testing.T) {
	rng := newRNG(8)
	for _, tc := range attnCases {
		s := tc.s
		q := randSlice(rng, s.B*s.T*s.Hq*s.D)
		k := randSlice(rng, s.B*s.T*s.Hkv*s.D)
		v := randSlice(rng, s.B*s.T*s.Hkv*s.D)
		var mask []float32
		if tc.mask != nil {
			mask = tc.mask(s.B, s.T)
		}
		scale := float32(1 / math.Sqrt(float64(s.D)))
		wantOut, wantP := refAttention(to64(q), to64(k), to64(v), mask, s, float64(scale))
		out := randSlice(rng, len(q)) // garbage must be overwritten
		probs := randSlice(rng, s.B*s.Hq*s.T*s.T)
		Attention(out, q, k, v, probs, mask, s, scale)
		requireClose(t, wantOut, out, 1e-5, tc.name+" out")
		requireClose(t, wantP, probs, 1e-5, tc.name+" probs")
		out2 := make([]float32, len(q))
		Attention(out2, q, k, v, nil, mask, s, scale)
		require.Equal(t, out, out2, tc.name+": result does not depend on saving probs")
		// Fully masked query rows (left padding) are exactly zero.
		for b := 0; mask != nil && b < s.B; b++ {
			for i := 0; i < s.T; i++ {
				seen := false
				for j := 0; j <= i; j++ {
					seen = seen || mask[b*s.T+j] != 0
				}
				if !seen {
					row := out[(b*s.T+i)*s.Hq*s.D : (b*s.T+i+1)*s.Hq*s.D]
					require.Equal(t, make([]float32, len(row)), row, "%s: b=%d i=%d has no visible key", tc.name, b, i)
				}
			}
		}
	}
}

func TestAttentionBackward(t *testing.T) {
	rng := newRNG(9)
	for _, tc := range attnCases {
		s := tc.s
		q32 := randSlice(rng, s.B*s.T*s.Hq*s.D)
		k32 := randSlice(rng, s.B*s.T*s.Hkv*s.D)
		v32 := randSlice(rng, s.B*s.T*s.Hkv*s.D)
		r := randSlice(rng, len(q32))
		var mask []float32
		if tc.mask != nil {
			mask = tc.mask(s.B, s.T)
		}
		scale := float32(1 / math.Sqrt(float64(s.D)))
		out := make([]float32, len(q32))
		probs := make([]float32, s.B*s.Hq*s.T*s.T)
		Attention(out, q32, k32, v32, probs, mask, s, scale)
		dq := randSlice(rng, len(q32))
		dk := randSlice(rng, len(k32))
		dv := randSlice(rng, len(v32))
		AttentionBackward(dq, dk, dv, r, q32, k32, v32, probs, s, scale)

		q, k, v := to64(q32), to64(k32), to64(v32)
		loss := func() float64 {
			o, _ := refAttention(q, k, v, mask, s, float64(scale))
			return dot64(o, to64(r))
		}
		requireClose(t, numGrad(q, loss), dq, 1e-4, fmt.Sprintf("%s dq", tc.name))
		requireClose(t, numGrad(k, loss), dk, 1e-4, fmt.Sprintf("%s dk", tc.name))
		requireClose(t, numGrad(v, loss), dv, 1e-4, fmt.Sprintf("%s dv", tc.name))
	}
}

func BenchmarkAttention(b *testing.B) {
	s := AttnShape{B: 4, T: 96, Hq: 16, Hkv: 8, D: 128}
	rng := newRNG(10)
	q := randSlice(rng, s.B*s.T*s.Hq*s.D)
	k := randSlice(rng, s.B*s.T*s.Hkv*s.D)
	v := randSlice(rng, s.B*s.T*s.Hkv*s.D)
	out := make([]float32, len(q))
	probs := make([]float32, s.B*s.Hq*s.T*s.T)
	scale := float32(1 / math.Sqrt(float64(s.D)))
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			Attention(out, q, k, v, probs, nil, s, scale)
		}
	})
	dq := make([]float32, len(q))
	dk := make([]float32, len(k))
	dv := make([]float32, len(v))
	b.Run("backward", func(b *testing.B) {
		for b.Loop() {
			AttentionBackward(dq, dk, dv, out, q, k, v, probs, s, scale)
		}
	})
}

func TestAttentionChecksLengths(t *testing.T) {
	s := AttnShape{B: 1, T: 2, Hq: 2, Hkv: 1, D: 2}
	q, kv := make([]float32, 8), make([]float32, 4)
	require.PanicsWithValue(t, "kern: attention: shape {B:1 Tq:2 Tk:2 Cap:2 Hq:2 Hkv:1 D:2}: len(mask)=3, want 2", func() {
		Attention(make([]float32, 8), q, kv, kv, nil, make([]float32, 3), s, 1)
	})
	require.Panics(t, func() { Attention(make([]float32, 8), q, kv, kv, nil, nil, AttnShape{1, 2, 3, 2, 2}, 1) })
	require.Panics(t, func() { AttentionBackward(q, kv, kv, q, q, kv, kv, make([]float32, 7), s, 1) })
}
