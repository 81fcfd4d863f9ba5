package kern

import "fmt"

// AttentionCachedTrain is AttentionCached that also writes the softmax probabilities into
// probs ([B,Hq,Tq,Tk], 0 for invisible keys), as AttentionCachedBackward needs. It is the
// forward pass of a training step whose rows continue keys computed elsewhere (a shared
// prompt prefix).
func (th Threads) AttentionCachedTrain(out, q, k, v, probs, mask []float32, s CachedShape, scale float32) {
	if len(probs) != s.B*s.Hq*s.Tq*s.Tk {
		panic(fmt.Sprintf("kern: attention: shape %+v: len(probs)=%d, want %d", s, len(probs), s.B*s.Hq*s.Tq*s.Tk))
	}
	th.attend(out, q, k, v, probs, mask, s, scale)
}

// AttentionCachedBackward computes the gradients of AttentionCachedTrain given dout
// [B,Tq,Hq,D] and the probs it saved: dq [B,Tq,Hq,D], and dk, dv [B,Cap,Hkv,D] of which the
// first Tk slots of each row are overwritten (the rest is left alone); a kv head's gradient
// sums over the query heads sharing it. The formulas are AttentionBackward's, with query i at
// key position Tk-Tq+i: per batch row and query head, matrix products over the keys visible to
// each block of queries; the row sums Σ_l p_il dp_il are float64. With Tq == Tk it computes
// what AttentionBackward does.
func (th Threads) AttentionCachedBackward(dq, dk, dv, dout, q, k, v, probs []float32, s CachedShape, scale float32) {
	B, Tq, Tk, Hq, Hkv, D := s.B, s.Tq, s.Tk, s.Hq, s.Hkv, s.D
	C := s.slots()
	if B < 0 || Tq < 0 || Tk < Tq || C < Tk || Hq <= 0 || Hkv <= 0 || D <= 0 || Hq%Hkv != 0 {
		panic(fmt.Sprintf("kern: attention backward: bad shape %+v", s))
	}
	nq, nkv := B*Tq*Hq*D, B*C*Hkv*D
	for _, l := range []lenCheck{{"dq", len(dq), nq}, {"dout", len(dout), nq}, {"q", len(q), nq},
		{"dk", len(dk), nkv}, {"dv", len(dv), nkv}, {"k", len(k), nkv}, {"v", len(v), nkv},
		{"probs", len(probs), B * Hq * Tq * Tk}} {
		if l.got != l.want {
			panic(fmt.Sprintf("kern: attention backward: shape %+v: len(%s)=%d, want %d", s, l.name, l.got, l.want))
		}
	}
	if B == 0 || Tk == 0 {
		return
	}
	if Tq == 0 {
		for b := 0; b < B; b++ {
			clear(dk[b*C*Hkv*D : (b*C+Tk)*Hkv*D])
			clear(dv[b*C*Hkv*D : (b*C+Tk)*Hkv*D])
		}
		return
	}
	group := Hq / Hkv
	past := Tk - Tq
	ldq, ldk := Hq*D, Hkv*D
	rb := min(Tq, attnBlock)
	th.ParallelFor(B*Hkv, max(1, attnGrain/(group*Tq*Tk*D)), func(lo, hi int) {
		buf := getF32(Tq * Tk)
		ds := buf.s // dP, then dS, row-major [Tq,Tk]
		for u := lo; u < hi; u++ {
			b, kh := u/Hkv, u%Hkv
			kb, vb := k[(b*C*Hkv+kh)*D:], v[(b*C*Hkv+kh)*D:]
			dkb, dvb := dk[(b*C*Hkv+kh)*D:], dv[(b*C*Hkv+kh)*D:]
			for h := kh * group; h < (kh+1)*group; h++ {
				beta := float32(1) // later query heads add to the kv head's dk, dv
				if h == kh*group {
					beta = 0
				}
				p := probs[(b*Hq+h)*Tq*Tk : (b*Hq+h+1)*Tq*Tk]
				qh, doh, dqh := q[(b*Tq*Hq+h)*D:], dout[(b*Tq*Hq+h)*D:], dq[(b*Tq*Hq+h)*D:]
				for i0 := 0; i0 < Tq; i0 += rb {
					i1 := min(i0+rb, Tq)
					n := past + i1 // keys [0,n) are visible to some query of the block
					GemmSerial(false, true, i1-i0, n, D, 1, doh[i0*ldq:], ldq, vb, ldk, 0, ds[i0*Tk:], Tk)
					for i := i0; i < i1; i++ {
						last := past + i
						pr, dr := p[i*Tk:i*Tk+last+1], ds[i*Tk:(i+1)*Tk]
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
						clear(dr[last+1:]) // the key blocks below read whole rows
					}
					GemmSerial(false, false, i1-i0, D, n, scale, ds[i0*Tk:], Tk, kb, ldk, 0, dqh[i0*ldq:], ldq)
				}
				// Keys [j0,j1) are seen by queries [max(0, j0-past), Tq).
				for j0 := 0; j0 < Tk; j0 += rb {
					j1 := min(j0+rb, Tk)
					i0 := max(0, j0-past)
					GemmSerial(true, false, j1-j0, D, Tq-i0, 1, p[i0*Tk+j0:], Tk, doh[i0*ldq:], ldq, beta, dvb[j0*ldk:], ldk)
					GemmSerial(true, false, j1-j0, D, Tq-i0, scale, ds[i0*Tk+j0:], Tk, qh[i0*ldq:], ldq, beta, dkb[j0*ldk:], ldk)
				}
			}
		}
		putF32(buf)
	})
}
