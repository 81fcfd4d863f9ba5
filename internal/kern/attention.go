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
func (th Threads) Attention(out, q, k, v, probs []float32, mask []float32, s AttnShape, scale float32) {
	th.attend(out, q, k, v, probs, mask, CachedShape{B: s.B, Tq: s.T, Tk: s.T, Cap: s.T, Hq: s.Hq, Hkv: s.Hkv, D: s.D}, scale)
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
	th.AttentionCachedBackward(dq, dk, dv, dout, q, k, v, probs, CachedShape{B: s.B, Tq: s.T, Tk: s.T, Cap: s.T, Hq: s.Hq, Hkv: s.Hkv, D: s.D}, scale)
}
