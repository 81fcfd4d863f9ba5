package kern

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// refAttentionCached is float64 attention of Tq queries placed at the end of Tk keys, with k, v
// [B,C,Hkv,D] and mask [B,C] (nil: all real).
func refAttentionCached(q, k, v []float64, mask []float32, s CachedShape, scale float64) []float64 {
	B, Tq, Tk, Hq, Hkv, D := s.B, s.Tq, s.Tk, s.Hq, s.Hkv, s.D
	C := s.slots()
	out := make([]float64, B*Tq*Hq*D)
	for b := 0; b < B; b++ {
		for h := 0; h < Hq; h++ {
			kh := h / (Hq / Hkv)
			for i := 0; i < Tq; i++ {
				var vis []int
				var sc []float64
				mx := math.Inf(-1)
				for j := 0; j <= Tk-Tq+i; j++ {
					if mask != nil && mask[b*C+j] == 0 {
						continue
					}
					var d float64
					for x := 0; x < D; x++ {
						d += q[((b*Tq+i)*Hq+h)*D+x] * k[((b*C+j)*Hkv+kh)*D+x]
					}
					vis = append(vis, j)
					sc = append(sc, d*scale)
					mx = math.Max(mx, d*scale)
				}
				var sum float64
				for n := range sc {
					sc[n] = math.Exp(sc[n] - mx)
					sum += sc[n]
				}
				for n, j := range vis {
					for x := 0; x < D; x++ {
						out[((b*Tq+i)*Hq+h)*D+x] += sc[n] / sum * v[((b*C+j)*Hkv+kh)*D+x]
					}
				}
			}
		}
	}
	return out
}

type cachedCase struct {
	name string
	s    CachedShape
	mask maskFunc // over the Cap slots
}

// inputs draws random q, k and v for tc and builds its mask.
func (tc cachedCase) inputs(rng *rand.Rand) (q, k, v, mask []float32) {
	q, k, v = randQKV(rng, tc.s)
	return q, k, v, tc.mask.build(tc.s.B, tc.s.slots())
}

// cachedCases are the calls checked against the float64 reference refAttentionCached, forward
// and backward: with and without a past, padding and spare capacity. Masks give the Tk visible
// slots of a row; maskRows makes the slots beyond Tk (up to Cap) 1.
var cachedCases = []cachedCase{
	{"no past", CachedShape{B: 2, Tq: 5, Tk: 5, Hq: 4, Hkv: 2, D: 8}, nil},
	{"one new token", CachedShape{B: 2, Tq: 1, Tk: 6, Hq: 4, Hkv: 2, D: 8}, nil},
	{"mha several new", CachedShape{B: 1, Tq: 3, Tk: 7, Hq: 3, Hkv: 3, D: 5}, nil},
	{"mqa spare capacity", CachedShape{B: 2, Tq: 2, Tk: 5, Cap: 9, Hq: 4, Hkv: 1, D: 6}, nil},
	{"gqa left-padded past", CachedShape{B: 3, Tq: 2, Tk: 6, Hq: 8, Hkv: 2, D: 7}, maskRows(
		[]float32{1, 1, 1, 1, 1, 1}, []float32{0, 0, 1, 1, 1, 1}, []float32{0, 0, 0, 1, 1, 1})},
	{"right-padded new tokens, spare capacity", CachedShape{B: 2, Tq: 3, Tk: 7, Cap: 10, Hq: 4, Hkv: 2, D: 8}, maskRows(
		[]float32{0, 1, 1, 1, 1, 0, 0}, []float32{1, 1, 1, 1, 1, 1, 1})},
	{"gqa padded prefix and rows, spare capacity", CachedShape{B: 3, Tq: 4, Tk: 9, Cap: 11, Hq: 4, Hkv: 2, D: 6}, maskRows(
		[]float32{0, 1, 1, 1, 1, 1, 1, 1, 1}, []float32{0, 1, 1, 1, 1, 0, 0, 1, 1}, []float32{1, 1, 1, 1, 1, 0, 0, 0, 1})},
	{"query with no visible key", CachedShape{B: 1, Tq: 3, Tk: 4, Hq: 2, Hkv: 1, D: 4}, maskRows([]float32{0, 0, 1, 1})},
	{"long, several blocks", CachedShape{B: 1, Tq: 60, Tk: 110, Hq: 2, Hkv: 1, D: 4}, nil},
}

// spareNaN fills the key and value slots beyond Tk with NaN: reading them would show.
func spareNaN(s CachedShape, k, v []float32) {
	C, row := s.slots(), s.Hkv*s.D
	for b := 0; b < s.B; b++ {
		for i := (b*C + s.Tk) * row; i < (b+1)*C*row; i++ {
			k[i], v[i] = float32(math.NaN()), float32(math.NaN())
		}
	}
}

func TestAttentionCached(t *testing.T) {
	rng := newRNG(11)
	for _, tc := range cachedCases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			q, k, v, mask := tc.inputs(rng)
			spareNaN(s, k, v)
			scale := invSqrt(s.D)
			want := refAttentionCached(to64(q), to64(k), to64(v), mask, s, float64(scale))
			out := randSlice(rng, len(q)) // garbage must be overwritten
			AttentionCached(out, q, k, v, mask, s, scale)
			requireClose(t, want, out, 1e-5, tc.name)

			if s.Tq == s.Tk && s.slots() == s.Tk {
				// Without a past it is exactly Attention.
				plain := make([]float32, len(q))
				Attention(plain, q, k, v, nil, mask, AttnShape{B: s.B, T: s.Tq, Hq: s.Hq, Hkv: s.Hkv, D: s.D}, scale)
				require.Equal(t, plain, out)
			}
			if tc.name == "query with no visible key" {
				require.Equal(t, make([]float32, s.Hq*s.D), out[:s.Hq*s.D])
			}
		})
	}
}

// Splitting a sequence into a past and new tokens gives the same numbers as one Attention call
// over the whole sequence (the new queries' rows), up to the float32 summation order of the
// matrix products, which may depend on how many queries share one.
func TestAttentionCachedMatchesAttentionRows(t *testing.T) {
	rng := newRNG(12)
	full := AttnShape{B: 2, T: 9, Hq: 4, Hkv: 2, D: 16}
	q, k, v := randQKV(rng, full.cached())
	mask := leftPad(0, 3)(full.B, full.T)
	scale := float32(0.25)
	want := make([]float32, len(q))
	Attention(want, q, k, v, nil, mask, full, scale)
	for _, tq := range []int{1, 4, 9} {
		s := CachedShape{B: full.B, Tq: tq, Tk: full.T, Hq: full.Hq, Hkv: full.Hkv, D: full.D}
		row := full.Hq * full.D
		nq := make([]float32, 0, full.B*tq*row)
		var wq []float32
		for b := 0; b < full.B; b++ {
			lo := (b*full.T + full.T - tq) * row
			nq = append(nq, q[lo:lo+tq*row]...)
			wq = append(wq, want[lo:lo+tq*row]...)
		}
		out := make([]float32, len(nq))
		AttentionCached(out, nq, k, v, mask, s, scale)
		requireClose(t, to64(wq), out, 1e-6, fmt.Sprintf("Tq=%d", tq))
	}
}

func TestAttentionCachedChecksShapes(t *testing.T) {
	s := CachedShape{B: 1, Tq: 2, Tk: 3, Hq: 2, Hkv: 1, D: 2}
	q, kv := make([]float32, 8), make([]float32, 6)
	require.PanicsWithValue(t, "kern: attention: shape {B:1 Tq:2 Tk:3 Cap:0 Hq:2 Hkv:1 D:2}: len(mask)=2, want 3", func() {
		AttentionCached(make([]float32, 8), q, kv, kv, make([]float32, 2), s, 1)
	})
	require.Panics(t, func() { AttentionCached(make([]float32, 8), q, kv, kv, nil, CachedShape{1, 3, 2, 0, 2, 1, 2}, 1) })
	require.Panics(t, func() { AttentionCached(make([]float32, 8), q, kv, kv, nil, CachedShape{1, 2, 3, 2, 2, 1, 2}, 1) })
	require.Panics(t, func() { AttentionCached(make([]float32, 8), q, kv, kv, nil, CachedShape{1, 2, 3, 0, 3, 2, 2}, 1) })
}
