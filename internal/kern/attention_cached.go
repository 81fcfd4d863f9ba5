package kern

import (
	"fmt"
	"math"
)

// CachedShape gives the sizes of an AttentionCached call: batch B, Tq new queries, Tk visible
// keys per row (the cached prefix and the new tokens, Tk >= Tq), Cap key slots per row in the
// k, v and mask buffers (Cap >= Tk; 0 means Tk), query heads Hq, key/value heads Hkv (Hq a
// multiple of Hkv) and head dimension D.
type CachedShape struct{ B, Tq, Tk, Cap, Hq, Hkv, D int }

func (s CachedShape) slots() int {
	if s.Cap == 0 {
		return s.Tk
	}
	return s.Cap
}

// AttentionCached computes causal grouped-query attention of Tq new queries against Tk keys
// whose last Tq are the queries' own tokens (a key/value cache followed by the new tokens).
// q and out are [B,Tq,Hq,D]; k and v are [B,Cap,Hkv,D], of which the first Tk slots of each row
// are read; mask is nil or [B,Cap] with 1 for real tokens and 0 for padding. Query i sits at key
// position Tk-Tq+i and sees key j iff j <= Tk-Tq+i and mask[b,j] != 0; a query with no visible
// key gets out = 0. With Tk == Tq (and Cap == Tk) the result equals Attention's, computed with
// the same float32 arithmetic (scores scaled by scale, max-subtracted softmax summed in float64).
func AttentionCached(out, q, k, v, mask []float32, s CachedShape, scale float32) {
	attend(out, q, k, v, nil, mask, s, scale)
}

// attend is the one implementation of causal grouped-query attention: Tq new queries over Tk
// keys (the last Tq of them are the queries' own tokens), key slots laid out with capacity Cap.
// probs, when not nil, is a [B,Hq,Tq,Tk] buffer that receives the softmax probabilities (0 for
// invisible keys), as AttentionBackward needs.
func attend(out, q, k, v, probs, mask []float32, s CachedShape, scale float32) {
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
	group := Hq / Hkv
	past := Tk - Tq
	ParallelFor(B*Hq*Tq, max(1, 16384/max(Tk*D, 1)), func(lo, hi int) {
		buf := getF32(Tk)
		p := buf.s[:Tk]
		for r := lo; r < hi; r++ { // one unit per (b, h, i)
			if probs != nil {
				p = probs[r*Tk : (r+1)*Tk]
			}
			i := r % Tq
			h := (r / Tq) % Hq
			b := r / (Tq * Hq)
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
				kj := k[((b*C+j)*Hkv+kh)*D : ((b*C+j)*Hkv+kh+1)*D]
				sc := float32(dot(qi, kj) * scale)
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
				if p[j] == 0 {
					continue
				}
				p[j] *= inv
				axpy(p[j], v[((b*C+j)*Hkv+kh)*D:((b*C+j)*Hkv+kh+1)*D], o)
			}
		}
		putF32(buf)
	})
}
