package kern

import (
	"math"
	"math/rand/v2"
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

// maskFunc builds a [B,T] mask, 1 for a real token and 0 for padding; a nil maskFunc means
// no mask.
type maskFunc func(B, T int) []float32

func (f maskFunc) build(B, T int) []float32 {
	if f == nil {
		return nil
	}
	return f(B, T)
}

// maskBy builds a mask whose row b keeps position j iff keep(j, rows[b%len(rows)]).
func maskBy[R any](rows []R, keep func(j int, row R) bool) maskFunc {
	return func(B, T int) []float32 {
		m := make([]float32, B*T)
		for b := 0; b < B; b++ {
			for j := 0; j < T; j++ {
				if keep(j, rows[b%len(rows)]) {
					m[b*T+j] = 1
				}
			}
		}
		return m
	}
}

// leftPad masks the first pads[b%len(pads)] positions of row b.
func leftPad(pads ...int) maskFunc { return maskBy(pads, func(j, pad int) bool { return j >= pad }) }

// rightPad keeps the first lens[b%len(lens)] positions of row b.
func rightPad(lens ...int) maskFunc { return maskBy(lens, func(j, n int) bool { return j < n }) }

// maskRows makes row b of the mask rows[b%len(rows)], followed by ones.
func maskRows(rows ...[]float32) maskFunc {
	return maskBy(rows, func(j int, row []float32) bool { return j >= len(row) || row[j] != 0 })
}

type attnCase struct {
	name string
	s    AttnShape
	mask maskFunc
}

// inputs draws random q, k and v for tc and builds its mask.
func (tc attnCase) inputs(rng *rand.Rand) (q, k, v, mask []float32) {
	q, k, v = randQKV(rng, tc.s.cached())
	return q, k, v, tc.mask.build(tc.s.B, tc.s.T)
}

// randQKV draws random queries [B,Tq,Hq,D] and keys and values [B,Cap,Hkv,D] for s.
func randQKV(rng *rand.Rand, s CachedShape) (q, k, v []float32) {
	nkv := s.B * s.slots() * s.Hkv * s.D
	q = randSlice(rng, s.B*s.Tq*s.Hq*s.D)
	k = randSlice(rng, nkv)
	v = randSlice(rng, nkv)
	return q, k, v
}

// invSqrt is the usual attention scale 1/sqrt(D).
func invSqrt(D int) float32 { return float32(1 / math.Sqrt(float64(D))) }

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
		q, k, v, mask := tc.inputs(rng)
		scale := invSqrt(s.D)
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

func TestAttentionChecksLengths(t *testing.T) {
	s := AttnShape{B: 1, T: 2, Hq: 2, Hkv: 1, D: 2}
	q, kv := make([]float32, 8), make([]float32, 4)
	require.PanicsWithValue(t, "kern: attention: shape {B:1 Tq:2 Tk:2 Cap:2 Hq:2 Hkv:1 D:2}: len(mask)=3, want 2", func() {
		Attention(make([]float32, 8), q, kv, kv, nil, make([]float32, 3), s, 1)
	})
	require.Panics(t, func() { Attention(make([]float32, 8), q, kv, kv, nil, nil, AttnShape{1, 2, 3, 2, 2}, 1) })
	require.Panics(t, func() { AttentionBackward(q, kv, kv, q, q, kv, kv, make([]float32, 7), s, 1) })
}

// loopAttend is the scalar implementation attend replaced (one query at a time, a dot product
// per visible key and an axpy per value, float32 softmax with a float64 sum): the reference
// for the numerics of the matrix-product version. Arguments as attend's.
func loopAttend(out, q, k, v, probs, mask []float32, s CachedShape, scale float32) {
	B, Tq, Tk, Hq, Hkv, D := s.B, s.Tq, s.Tk, s.Hq, s.Hkv, s.D
	C := s.slots()
	group := Hq / Hkv
	past := Tk - Tq
	p := make([]float32, Tk)
	for r := 0; r < B*Hq*Tq; r++ { // (b, h, i)
		if probs != nil {
			p = probs[r*Tk : (r+1)*Tk]
		}
		i, h, b := r%Tq, (r/Tq)%Hq, r/(Tq*Hq)
		kh := h / group
		last := past + i
		qi := q[((b*Tq+i)*Hq+h)*D : ((b*Tq+i)*Hq+h+1)*D]
		o := out[((b*Tq+i)*Hq+h)*D : ((b*Tq+i)*Hq+h+1)*D]
		mx := float32(math.Inf(-1))
		seen := false
		for j := 0; j <= last; j++ {
			if mask != nil && mask[b*C+j] == 0 {
				continue
			}
			sc := dot(qi, k[((b*C+j)*Hkv+kh)*D:((b*C+j)*Hkv+kh+1)*D]) * scale
			p[j] = sc
			if !seen || sc > mx {
				mx = sc
			}
			seen = true
		}
		clear(o)
		if !seen {
			clear(p)
			continue
		}
		var sum float64
		for j := 0; j <= last; j++ {
			if mask != nil && mask[b*C+j] == 0 {
				p[j] = 0
				continue
			}
			e := float32(math.Exp(float64(p[j] - mx)))
			p[j] = e
			sum += float64(e)
		}
		clear(p[last+1:])
		inv := float32(1 / sum)
		for j := 0; j <= last; j++ {
			if p[j] != 0 {
				p[j] *= inv
				axpy(p[j], v[((b*C+j)*Hkv+kh)*D:((b*C+j)*Hkv+kh+1)*D], o)
			}
		}
	}
}

// loopAttentionBackward is the scalar AttentionBackward the matrix-product version replaced.
func loopAttentionBackward(dq, dk, dv, dout, q, k, v, probs []float32, s AttnShape, scale float32) {
	B, T, Hq, Hkv, D := s.B, s.T, s.Hq, s.Hkv, s.D
	group := Hq / Hkv
	ds := make([]float32, T)
	clear(dk)
	clear(dv)
	for b := 0; b < B; b++ {
		for h := 0; h < Hq; h++ {
			kh := h / group
			for i := 0; i < T; i++ {
				qoff := ((b*T+i)*Hq + h) * D
				doi, qi, dqi := dout[qoff:qoff+D], q[qoff:qoff+D], dq[qoff:qoff+D]
				clear(dqi)
				p := probs[((b*Hq+h)*T+i)*T : ((b*Hq+h)*T+i+1)*T]
				var tot float64
				for j := 0; j <= i; j++ {
					if p[j] == 0 {
						continue
					}
					koff := ((b*T+j)*Hkv + kh) * D
					axpy(p[j], doi, dv[koff:koff+D])
					ds[j] = dot(doi, v[koff:koff+D])
					tot += float64(p[j]) * float64(ds[j])
				}
				t32 := float32(tot)
				for j := 0; j <= i; j++ {
					if p[j] == 0 {
						continue
					}
					g := p[j] * (ds[j] - t32) * scale
					koff := ((b*T+j)*Hkv + kh) * D
					axpy(g, k[koff:koff+D], dqi)
					axpy(g, qi, dk[koff:koff+D])
				}
			}
		}
	}
}

// loopTol bounds the difference between the matrix-product attention and the loops: they
// differ by float32 summation order only (the products accumulate each score over D in one
// chain where the loops used four), a few 1e-7 of the outputs' rms.
const loopTol = 5e-6

// The matrix-product attention agrees with the loop implementation it replaced: forward,
// probabilities and all three gradients, over shapes with one and several causal blocks.
func TestAttentionMatchesLoops(t *testing.T) {
	holes := maskRows([]float32{1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1}, []float32{0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1})
	cases := []attnCase{
		{"one token", AttnShape{1, 1, 1, 1, 8}, nil},
		{"mha", AttnShape{2, 7, 2, 2, 16}, nil},
		{"gqa2 odd D left padding", AttnShape{3, 17, 4, 2, 33}, leftPad(0, 5, 16)},
		{"mqa right padding", AttnShape{2, 33, 4, 1, 64}, rightPad(33, 20)},
		{"gqa4 D128", AttnShape{1, 40, 8, 2, 128}, nil},
		{"fully padded row", AttnShape{2, 9, 2, 1, 8}, leftPad(0, 9)},
		{"fully padded last row gqa", AttnShape{3, 6, 4, 2, 8}, leftPad(2, 0, 6)},
		{"mask with holes", AttnShape{2, 13, 4, 4, 24}, holes},
		{"two blocks gqa2", AttnShape{2, attnBlock + 5, 4, 2, 16}, leftPad(0, 7)},
		{"three blocks mqa", AttnShape{1, 2*attnBlock + 1, 2, 1, 8}, rightPad(2*attnBlock - 3)},
	}
	rng := newRNG(21)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			q, k, v, mask := tc.inputs(rng)
			dout := randSlice(rng, len(q))
			scale := invSqrt(s.D)
			wantOut, wantP := make([]float32, len(q)), make([]float32, s.B*s.Hq*s.T*s.T)
			loopAttend(wantOut, q, k, v, wantP, mask, s.cached(), scale)
			out, probs := randSlice(rng, len(q)), randSlice(rng, len(wantP)) // garbage is overwritten
			Attention(out, q, k, v, probs, mask, s, scale)
			requireClose(t, to64(wantOut), out, loopTol, "out")
			requireClose(t, to64(wantP), probs, loopTol, "probs")
			for i, w := range wantP {
				if w == 0 {
					require.Zero(t, probs[i], "probs[%d] of an invisible key", i)
				}
			}

			wdq, wdk, wdv := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))
			loopAttentionBackward(wdq, wdk, wdv, dout, q, k, v, wantP, s, scale)
			dq, dk, dv := randSlice(rng, len(q)), randSlice(rng, len(k)), randSlice(rng, len(v))
			AttentionBackward(dq, dk, dv, dout, q, k, v, wantP, s, scale)
			requireClose(t, to64(wdq), dq, 2*loopTol, "dq")
			requireClose(t, to64(wdk), dk, 2*loopTol, "dk")
			requireClose(t, to64(wdv), dv, loopTol, "dv")
		})
	}
}

// AttentionCached (and attend's probabilities with a past) agree with the loop implementation.
func TestAttentionCachedMatchesLoops(t *testing.T) {
	cases := []cachedCase{
		{"decode one token", CachedShape{B: 3, Tq: 1, Tk: 20, Cap: 24, Hq: 4, Hkv: 2, D: 32}, leftPad(0, 4, 19)},
		{"16 new of 112", CachedShape{B: 2, Tq: 16, Tk: 112, Hq: 4, Hkv: 2, D: 128}, nil},
		{"left-padded past", CachedShape{B: 3, Tq: 5, Tk: 11, Cap: 16, Hq: 8, Hkv: 2, D: 8}, leftPad(0, 3, 9)},
		{"no visible key for early queries", CachedShape{B: 1, Tq: 6, Tk: 8, Hq: 2, Hkv: 1, D: 16}, leftPad(5)},
		{"last row all padding", CachedShape{B: 2, Tq: 3, Tk: 5, Hq: 4, Hkv: 2, D: 8}, leftPad(1, 5)},
		{"right-padded new tokens", CachedShape{B: 2, Tq: 7, Tk: 15, Cap: 20, Hq: 2, Hkv: 2, D: 12}, rightPad(12, 15)},
		{"several blocks with past", CachedShape{B: 1, Tq: attnBlock + 9, Tk: attnBlock + 30, Hq: 2, Hkv: 1, D: 8}, leftPad(3)},
	}
	rng := newRNG(22)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			q, k, v, mask := tc.inputs(rng)
			scale := invSqrt(s.D)
			want, wantP := make([]float32, len(q)), make([]float32, s.B*s.Hq*s.Tq*s.Tk)
			loopAttend(want, q, k, v, wantP, mask, s, scale)
			out := randSlice(rng, len(q))
			AttentionCached(out, q, k, v, mask, s, scale)
			requireClose(t, to64(want), out, loopTol, "out")
			out2, probs := randSlice(rng, len(q)), randSlice(rng, len(wantP))
			Threads(1).attend(out2, q, k, v, probs, mask, s, scale)
			require.Equal(t, out, out2, "result does not depend on saving probs")
			requireClose(t, to64(wantP), probs, loopTol, "probs")
		})
	}
}

// Attention's own scratch is pooled: apart from what the matrix products themselves allocate
// and a constant for starting workers, a call does not allocate.
func TestAttentionAllocations(t *testing.T) {
	skipUnderRace(t)
	s := AttnShape{B: 2, T: attnBlock + 8, Hq: 4, Hkv: 2, D: 32}
	cs := CachedShape{B: 2, Tq: 8, Tk: 40, Hq: 4, Hkv: 2, D: 32}
	rng := newRNG(23)
	q, k, v := randSlice(rng, s.B*s.T*s.Hq*s.D), randSlice(rng, s.B*s.T*s.Hkv*s.D), randSlice(rng, s.B*s.T*s.Hkv*s.D)
	out, probs := make([]float32, len(q)), make([]float32, s.B*s.Hq*s.T*s.T)
	dq, dk, dv := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))
	cq, cout := q[:cs.B*cs.Tq*cs.Hq*cs.D], make([]float32, cs.B*cs.Tq*cs.Hq*cs.D)
	ck, cv := k[:cs.B*cs.Tk*cs.Hkv*cs.D], v[:cs.B*cs.Tk*cs.Hkv*cs.D]
	scratch := make([]float32, s.T*s.T)
	gemms := testing.AllocsPerRun(5, func() {
		// The kinds of products the attention runs, at its sizes.
		GemmSerial(false, true, attnBlock, s.T, s.D, 1, q, s.Hq*s.D, k, s.Hkv*s.D, 0, scratch, s.T)
		GemmSerial(false, false, 8, s.D, s.T, 1, scratch, s.T, v, s.Hkv*s.D, 0, out, s.Hq*s.D)
		GemmSerial(true, false, attnBlock, s.D, s.T, 1, scratch, s.T, q, s.Hq*s.D, 1, dk, s.Hkv*s.D)
	})
	if gemms > 0 {
		t.Skipf("GemmSerial allocates (%v allocations for three calls); attention's own allocations cannot be told apart", gemms)
	}
	for name, f := range map[string]func(){
		"forward":  func() { Attention(out, q, k, v, probs, nil, s, 0.2) },
		"backward": func() { AttentionBackward(dq, dk, dv, out, q, k, v, probs, s, 0.2) },
		"cached":   func() { AttentionCached(cout, cq, ck, cv, nil, cs, 0.2) },
	} {
		require.LessOrEqual(t, testing.AllocsPerRun(10, f), 4.0, name)
	}
}

// expShifted is float32(math.Exp(float64(x))) but for rare one-ulp differences, and sums.
func TestExpShifted(t *testing.T) {
	expNonPos := func(x float32) float32 {
		v := []float32{x}
		sum := expShifted(v, 0)
		if !math.IsNaN(float64(v[0])) {
			require.Equal(t, float64(v[0]), sum)
		}
		return v[0]
	}
	check := func(x float32) {
		want, got := float32(math.Exp(float64(x))), expNonPos(x)
		d := int64(math.Float32bits(want)) - int64(math.Float32bits(got))
		if d < -1 || d > 1 {
			require.Failf(t, "expNonPos", "x=%g: got %g want %g", x, got, want)
		}
	}
	for x := float32(0); x > -110; x -= 1.0 / 1024 {
		check(x)
	}
	rng := newRNG(24)
	for range 100000 {
		check(-float32(rng.ExpFloat64() * 3))
	}
	require.Equal(t, float32(1), expNonPos(0))
	require.Equal(t, float32(1), expNonPos(float32(math.Copysign(0, -1))))
	require.Zero(t, expNonPos(float32(math.Inf(-1))))
	require.Zero(t, expNonPos(-104.5))
	require.True(t, math.IsNaN(float64(expNonPos(float32(math.NaN())))))
	require.Equal(t, float32(math.Exp(-100)), expNonPos(-100)) // a subnormal

	x := []float32{-1, 2, 0.5, float32(math.Inf(-1)), 1.25}
	var want float64
	for i, v := range x {
		x[i] = float32(math.Exp(float64(v - 2)))
		want += float64(x[i])
	}
	y := []float32{-1, 2, 0.5, float32(math.Inf(-1)), 1.25}
	require.InDelta(t, want, expShifted(y, 2), 1e-15)
	requireClose(t, to64(x), y, 2e-7, "shifted row")
}
