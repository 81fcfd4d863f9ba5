package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/kern"
)

// attnRef is causal grouped-query attention in float64: q [B·T, Hq·D], k and v [B·T, Hkv·D];
// query head h reads kv head h/(Hq/Hkv); query i sees key j iff j ≤ i and mask[b·T+j] ≠ 0
// (mask nil: every key), scores are scale·q·k, and a query that sees no key gets 0.
func attnRef(q, k, v, mask []float64, s kern.AttnShape, scale float64) []float64 {
	out := make([]float64, len(q))
	p := make([]float64, s.T)
	for b := range s.B {
		for h := range s.Hq {
			kh := h / (s.Hq / s.Hkv)
			for i := range s.T {
				qi := q[((b*s.T+i)*s.Hq+h)*s.D:][:s.D]
				mx, seen := math.Inf(-1), false
				for j := 0; j <= i; j++ {
					p[j] = math.Inf(-1)
					if mask != nil && mask[b*s.T+j] == 0 {
						continue
					}
					p[j] = 0
					for e, x := range k[((b*s.T+j)*s.Hkv+kh)*s.D:][:s.D] {
						p[j] += scale * qi[e] * x
					}
					mx, seen = max(mx, p[j]), true
				}
				if !seen {
					continue
				}
				var z float64
				for j := 0; j <= i; j++ {
					p[j] = math.Exp(p[j] - mx)
					z += p[j]
				}
				o := out[((b*s.T+i)*s.Hq+h)*s.D:][:s.D]
				for j := 0; j <= i; j++ {
					for e, x := range v[((b*s.T+j)*s.Hkv+kh)*s.D:][:s.D] {
						o[e] += p[j] / z * x
					}
				}
			}
		}
	}
	return out
}

// TestAttentionOpMatchesReference: the attention op's output equals the float64 causal
// grouped-query reference (multi-head, grouped, left-padded rows, a scale other than
// 1/sqrt(D)); the gradients of q, k and v equal central differences of Σ out·W on the
// reference; release drops the probabilities a forward pass keeps and the gradients kept.
func TestAttentionOpMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     kern.AttnShape
		mask  []float64
		scale float64 // 0: 1/sqrt(D)
	}{
		{"multi-head", kern.AttnShape{B: 1, T: 4, Hq: 2, Hkv: 2, D: 4}, nil, 0},
		{"grouped", kern.AttnShape{B: 2, T: 3, Hq: 4, Hkv: 2, D: 4}, nil, 0},
		{"padded", kern.AttnShape{B: 2, T: 4, Hq: 2, Hkv: 1, D: 8}, []float64{0, 0, 1, 1, 1, 1, 1, 1}, 0},
		{"scale", kern.AttnShape{B: 1, T: 3, Hq: 2, Hkv: 1, D: 8}, nil, 0.9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			scale := tc.scale
			if scale == 0 {
				scale = 1 / math.Sqrt(float64(s.D))
			}
			in := &stepInputs{}
			if tc.mask != nil {
				in.mask = f32(tc.mask)
			}
			rng := rand.New(rand.NewPCG(5, uint64(s.B*s.T)))
			n := s.B * s.T
			qm, q := randMat(rng, n, s.Hq*s.D, 1)
			km, k := randMat(rng, n, s.Hkv*s.D, 1)
			vm, v := randMat(rng, n, s.Hkv*s.D, 1)
			dom, do := randMat(rng, n, s.Hq*s.D, 1)

			op := newAttention("attn", s, in, float32(scale))
			out, d, p := runOpGraph(t, op, dom, qm, km, vm)
			ref := func() []float64 { return attnRef(q, k, v, tc.mask, s, scale) }
			require.Less(t, relErr(out, f32(ref())), 1e-5, "forward")
			for i, x := range [][]float64{q, k, v} {
				require.Less(t, relErr(d[i], refGrad(x, do, ref)), 1e-3, "gradient of %c", "qkv"[i])
			}

			require.NotContains(t, op.st.d, nil)
			p.release()
			for i, g := range op.st.d {
				require.Nil(t, g, "gradient %d kept after release", i)
			}
			// A forward pass keeps its probabilities for the backward; release drops them.
			_, err := op.Do(qm, km, vm)
			require.NoError(t, err)
			require.NotContains(t, op.st.probs, nil)
			op.release()
			require.Equal(t, []*buf{nil}, op.st.probs)
		})
	}
}
