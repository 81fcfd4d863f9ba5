package kern

import (
	"fmt"
)

// AttnShape gives the sizes of an attention call: batch B, sequence T, query
// heads Hq, key/value heads Hkv (Hq a multiple of Hkv) and head dimension D.
type AttnShape struct{ B, T, Hq, Hkv, D int }

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
func Attention(out, q, k, v, probs []float32, mask []float32, s AttnShape, scale float32) {
	attend(out, q, k, v, probs, mask, CachedShape{B: s.B, Tq: s.T, Tk: s.T, Cap: s.T, Hq: s.Hq, Hkv: s.Hkv, D: s.D}, scale)
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
func AttentionBackward(dq, dk, dv, dout, q, k, v, probs []float32, s AttnShape, scale float32) {
	B, T, Hq, Hkv, D := s.B, s.T, s.Hq, s.Hkv, s.D
	nq, nkv := B*T*Hq*D, B*T*Hkv*D
	s.check("attention backward", lenCheck{"dq", len(dq), nq}, lenCheck{"dout", len(dout), nq}, lenCheck{"q", len(q), nq},
		lenCheck{"dk", len(dk), nkv}, lenCheck{"dv", len(dv), nkv}, lenCheck{"k", len(k), nkv}, lenCheck{"v", len(v), nkv},
		lenCheck{"probs", len(probs), B * Hq * T * T})
	if B == 0 || T == 0 {
		return
	}
	group := Hq / Hkv
	ldq, ldk := Hq*D, Hkv*D
	rb := min(T, attnBlock)
	ParallelFor(B*Hkv, max(1, attnGrain/(group*T*T*D)), func(lo, hi int) {
		buf := getF32(T * T)
		ds := buf.s // dP, then dS, row-major [T,T]; only the lower block triangle is used
		for u := lo; u < hi; u++ {
			b, kh := u/Hkv, u%Hkv
			kb, vb := k[(b*T*Hkv+kh)*D:], v[(b*T*Hkv+kh)*D:]
			dkb, dvb := dk[(b*T*Hkv+kh)*D:], dv[(b*T*Hkv+kh)*D:]
			for h := kh * group; h < (kh+1)*group; h++ {
				beta := float32(1) // later query heads add to the kv head's dk, dv
				if h == kh*group {
					beta = 0
				}
				p := probs[(b*Hq+h)*T*T : (b*Hq+h+1)*T*T]
				qh, doh, dqh := q[(b*T*Hq+h)*D:], dout[(b*T*Hq+h)*D:], dq[(b*T*Hq+h)*D:]
				for i0 := 0; i0 < T; i0 += rb {
					i1 := min(i0+rb, T)
					// dP for queries [i0,i1) against the keys they can see, [0,i1).
					GemmSerial(false, true, i1-i0, i1, D, 1, doh[i0*ldq:], ldq, vb, ldk, 0, ds[i0*T:], T)
					for i := i0; i < i1; i++ {
						pr, dr := p[i*T:i*T+i+1], ds[i*T:i*T+i1]
						var tot float64
						for j, pj := range pr {
							if pj != 0 {
								tot += float64(pj) * float64(dr[j])
							}
						}
						t32 := float32(tot)
						for j, pj := range pr {
							if pj == 0 {
								dr[j] = 0
							} else {
								dr[j] = pj * (dr[j] - t32)
							}
						}
						clear(dr[i+1:])
					}
					GemmSerial(false, false, i1-i0, D, i1, scale, ds[i0*T:], T, kb, ldk, 0, dqh[i0*ldq:], ldq)
				}
				// Keys [j0,j1) are seen by queries [j0,T).
				for j0 := 0; j0 < T; j0 += rb {
					j1 := min(j0+rb, T)
					GemmSerial(true, false, j1-j0, D, T-j0, 1, p[j0*T+j0:], T, doh[j0*ldq:], ldq, beta, dvb[j0*ldk:], ldk)
					GemmSerial(true, false, j1-j0, D, T-j0, scale, ds[j0*T+j0:], T, qh[j0*ldq:], ldq, beta, dkb[j0*ldk:], ldk)
				}
			}
		}
		putF32(buf)
	})
}
