package kern

import (
	"fmt"
	"math"
)

// AttnShape gives the sizes of an attention call: batch B, sequence T, query
// heads Hq, key/value heads Hkv (Hq a multiple of Hkv) and head dimension D.
type AttnShape struct{ B, T, Hq, Hkv, D int }

// cached is s as the shape of a cached call without a past: T queries over their own T keys.
func (s AttnShape) cached() CachedShape {
	return CachedShape{B: s.B, Tq: s.T, Tk: s.T, Cap: s.T, Hq: s.Hq, Hkv: s.Hkv, D: s.D}
}

type lenCheck struct {
	name      string
	got, want int
}

func (s AttnShape) check(name string, lens ...lenCheck) {
	if s.B < 0 || s.T < 0 || s.Hq <= 0 || s.Hkv <= 0 || s.D <= 0 || s.Hq%s.Hkv != 0 {
		panic(fmt.Sprintf("kern: %s: bad shape %+v", name, s))
	}
	for _, l := range lens {
		if l.got != l.want {
			panic(fmt.Sprintf("kern: %s: shape %+v: len(%s)=%d, want %d", name, s, l.name, l.got, l.want))
		}
	}
}

// Attention computes causal scaled-dot-product attention with grouped-query
// heads. q is [B,T,Hq,D], k and v are [B,T,Hkv,D], out is [B,T,Hq,D]; query
// head h uses kv head h/(Hq/Hkv). mask is nil or [B,T] with 1 for real tokens
// and 0 for padding: key j is visible to query i iff j <= i and mask[b,j] != 0.
// A query with no visible key gets out = 0. Keys and values must be finite,
// masked ones included (they are multiplied by probability 0). probs is nil or
// a [B,Hq,T,T] buffer receiving the softmax probabilities (0 for invisible
// keys), as AttentionBackward needs. Scores are scaled by scale (usually
// 1/sqrt(D)); the softmax is float32 with max subtraction. The work is matrix
// products per batch row and query head (see attend).
func (th Threads) Attention(out, q, k, v, probs []float32, mask []float32, s AttnShape, scale float32) {
	th.attend(out, q, k, v, probs, mask, s.cached(), scale)
}

// AttentionBackward computes the gradients of Attention given dout
// [B,T,Hq,D] and the probs it saved: dq [B,T,Hq,D], dk and dv [B,T,Hkv,D]
// (all overwritten; a kv head's gradient sums over the query heads sharing it).
//
//	dv_j = Σ_i p_ij dout_i,  dp_ij = dout_i·v_j,  ds_ij = p_ij (dp_ij - Σ_l p_il dp_il),
//	dq_i = scale Σ_j ds_ij k_j,  dk_j = scale Σ_i ds_ij q_i
//
// Per batch row and query head these are matrix products (dV += Pᵀ dO, dP = dO Vᵀ,
// dQ = scale dS K, dK += scale dSᵀ Q) over the causal lower block triangle only; the row sums
// Σ_l p_il dp_il are float64. Work is split over (batch row, kv head) pairs, each owning its
// dk/dv and the dq of its query heads.
func (th Threads) AttentionBackward(dq, dk, dv, dout, q, k, v, probs []float32, s AttnShape, scale float32) {
	nq, nkv := s.B*s.T*s.Hq*s.D, s.B*s.T*s.Hkv*s.D
	s.check("attention backward", lenCheck{"dq", len(dq), nq}, lenCheck{"dout", len(dout), nq}, lenCheck{"q", len(q), nq},
		lenCheck{"dk", len(dk), nkv}, lenCheck{"dv", len(dv), nkv}, lenCheck{"k", len(k), nkv}, lenCheck{"v", len(v), nkv},
		lenCheck{"probs", len(probs), s.B * s.Hq * s.T * s.T})
	// Every key is in the window: the cached backward with Tq == Tk == T.
	th.AttentionCachedBackward(dq, dk, dv, dout, q, k, v, probs, s.cached(), scale)
}

// attnBlock is the number of queries per causal block: scores and the probability-weighted
// values of a block of queries are computed against the keys visible to its last query only,
// which skips most of the fully masked upper triangle.
const attnBlock = 48

// attnGrain is about the smallest amount of attention work (multiply-adds) worth a goroutine.
const attnGrain = 1 << 16

// attend is the one implementation of causal grouped-query attention: Tq new queries over Tk
// keys (the last Tq of them are the queries' own tokens), key slots laid out with capacity Cap.
// probs, when not nil, is a [B,Hq,Tq,Tk] buffer that receives the softmax probabilities (0 for
// invisible keys), as AttentionBackward needs.
//
// Per (batch row, query head) and block of attnBlock queries it computes the scores
// S = scale·Q Kᵀ and then out = P V as matrix products (GemmSerial, reading the heads in place
// through their row strides), keys from the first unmasked slot to the block's last visible
// one. Masked keys get probability 0; they are still multiplied by it, so the values of masked
// slots must be finite (a key/value cache holds zeros or computed values there).
func (th Threads) attend(out, q, k, v, probs, mask []float32, s CachedShape, scale float32) {
	B, Tq, Tk, Hq, Hkv, D := s.B, s.Tq, s.Tk, s.Hq, s.Hkv, s.D
	C := s.slots()
	if B < 0 || Tq < 0 || Tk < Tq || C < Tk || Hq <= 0 || Hkv <= 0 || D <= 0 || Hq%Hkv != 0 {
		panic(fmt.Sprintf("kern: attention: bad shape %+v", s))
	}
	nm, np := B*C, B*Hq*Tq*Tk
	if mask == nil {
		nm = 0
	}
	if probs == nil {
		np = 0
	}
	for _, l := range []lenCheck{{"q", len(q), B * Tq * Hq * D}, {"out", len(out), B * Tq * Hq * D},
		{"k", len(k), B * C * Hkv * D}, {"v", len(v), B * C * Hkv * D}, {"mask", len(mask), nm},
		{"probs", len(probs), np}} {
		if l.got != l.want {
			panic(fmt.Sprintf("kern: attention: shape %+v: len(%s)=%d, want %d", s, l.name, l.got, l.want))
		}
	}
	if B == 0 || Tq == 0 {
		return
	}
	group := Hq / Hkv
	past := Tk - Tq
	ldq, ldk := Hq*D, Hkv*D
	rb := min(Tq, attnBlock)
	th.ParallelFor(B*Hq, max(1, attnGrain/(Tq*Tk*D)), func(lo, hi int) {
		var buf *f32Buf
		if probs == nil {
			buf = getF32(rb * Tk)
		}
		for u := lo; u < hi; u++ { // one unit per (b, h)
			b, h := u/Hq, u%Hq
			kh := h / group
			var mrow []float32
			k0 := 0 // first unmasked key slot: earlier ones (left padding) are skipped
			if mask != nil {
				mrow = mask[b*C : b*C+Tk]
				for k0 < Tk && mrow[k0] == 0 {
					k0++
				}
			}
			qh, oh := q[(b*Tq*Hq+h)*D:], out[(b*Tq*Hq+h)*D:]
			kb, vb := k[(b*C*Hkv+kh)*D:], v[(b*C*Hkv+kh)*D:]
			for i0 := 0; i0 < Tq; i0 += rb {
				i1 := min(i0+rb, Tq)
				var p []float32 // rows i0..i1-1, stride Tk
				if probs != nil {
					p = probs[(u*Tq+i0)*Tk : (u*Tq+i1)*Tk]
				} else {
					p = buf.s[:(i1-i0)*Tk]
				}
				n := past + i1 - k0 // keys [k0, past+i1) are visible to some query of the block
				if n <= 0 {
					clear(p)
					for i := i0; i < i1; i++ {
						clear(oh[i*ldq : i*ldq+D])
					}
					continue
				}
				GemmSerial(false, true, i1-i0, n, D, scale, qh[i0*ldq:], ldq, kb[k0*ldk:], ldk, 0, p[k0:], Tk)
				for i := i0; i < i1; i++ {
					softmaxVisible(p[(i-i0)*Tk:(i-i0+1)*Tk], mrow, k0, past+i)
				}
				GemmSerial(false, false, i1-i0, D, n, 1, p[k0:], Tk, vb[k0*ldk:], ldk, 0, oh[i0*ldq:], ldq)
			}
		}
		if buf != nil {
			putF32(buf)
		}
	})
}

// softmaxVisible turns the scores row[k0:last+1] into probabilities over the keys j in
// [k0, last] with mask[j] != 0 (mask nil: all), in float32 with max subtraction and a float64
// sum, and zeroes the rest of row. k0 is the first unmasked key, so a row with k0 > last has no
// visible key and becomes all zeros.
func softmaxVisible(row, mask []float32, k0, last int) {
	if k0 > last {
		clear(row)
		return
	}
	clear(row[:k0])
	clear(row[last+1:])
	vis := row[k0 : last+1]
	mx := vis[0]
	if mask == nil {
		for _, sc := range vis[1:] {
			if sc > mx {
				mx = sc
			}
		}
	} else {
		mask = mask[k0 : last+1]
		for j, sc := range vis {
			if mask[j] == 0 {
				vis[j] = float32(math.Inf(-1)) // e^-Inf = 0
			} else if sc > mx {
				mx = sc
			}
		}
	}
	inv := float32(1 / expShifted(vis, mx))
	for j := range vis {
		vis[j] *= inv
	}
}

// exp2Frac holds 2^(i/32), i = 0..31, for expShifted.
var exp2Frac = func() (t [32]float64) {
	for i := range t {
		t[i] = math.Exp2(float64(i) / 32)
	}
	return t
}()

// expShifted replaces each x[j] (x[j] <= mx) by e^(x[j]-mx) rounded to float32 and returns
// their float64 sum. It is about three times faster than float32(math.Exp(float64(x[j]-mx)))
// and equal to it but for about 4 in 10⁶ arguments, which differ by one unit in the last
// place: with x[j]-mx = (32n + i)·ln2/32 + r, |r| <= ln2/64, e^(x[j]-mx) is
// 2^n · 2^(i/32) · e^r, e^r by a degree-4 polynomial (relative error below 2e-12), all in
// float64; n and i come from rounding with the 1.5·2⁵² shifter. Arguments below -104 give 0
// (e^-104 < 2^-150), NaN gives NaN.
func expShifted(x []float32, mx float32) float64 {
	const (
		shifter = 0x1.8p52
		log2e32 = 32 * math.Log2E
		ln2d32  = math.Ln2 / 32
	)
	var sum float64
	for j, v := range x {
		d := v - mx
		if d < -104 {
			x[j] = 0
			continue
		}
		xd := float64(d)
		t := xd*log2e32 + shifter
		k := int32(math.Float64bits(t)) // round(d·32·log2 e), two's complement in the low bits
		t -= shifter
		r := xd - t*ln2d32
		p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24))))
		e := float32(p * exp2Frac[k&31] * math.Float64frombits(uint64(int64(k>>5)+1023)<<52))
		x[j] = e
		sum += float64(e)
	}
	return sum
}
