package kern

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/reftest"
)

// TestAttentionCachedBackward checks the gradients of AttentionCachedTrain against finite
// differences of the float64 reference, with and without padding, past keys and spare slots,
// and over attnCases those of AttentionBackward, which without a past must agree bit for bit.
func TestAttentionCachedBackward(t *testing.T) {
	cases := slices.Clone(cachedCases)
	for _, tc := range attnCases {
		cases = append(cases, cachedCase{"full " + tc.name, tc.s.cached(), tc.mask})
	}
	rng := newRNG(17)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			C := s.slots()
			q32, k32, v32, mask := tc.inputs(rng)
			spareNaN(s, k32, v32)
			r := randSlice(rng, len(q32))
			scale := invSqrt(s.D)
			probs := make([]float32, s.B*s.Hq*s.Tq*s.Tk)
			AttentionCachedTrain(make([]float32, len(q32)), q32, k32, v32, probs, mask, s, scale)
			dq, dk, dv := randSlice(rng, len(q32)), randSlice(rng, len(k32)), randSlice(rng, len(v32))
			spare := slices.Clone(dk)
			AttentionCachedBackward(dq, dk, dv, r, q32, k32, v32, probs, s, scale)
			for b := 0; b < s.B; b++ { // slots beyond Tk are left alone
				for i := (b*C + s.Tk) * s.Hkv * s.D; i < (b+1)*C*s.Hkv*s.D; i++ {
					if dk[i] != spare[i] {
						t.Fatalf("dk slot beyond Tk written at %d", i)
					}
				}
			}
			if s.Tq == C {
				full := AttnShape{B: s.B, T: s.Tq, Hq: s.Hq, Hkv: s.Hkv, D: s.D}
				fq, fk, fv := randSlice(rng, len(q32)), randSlice(rng, len(k32)), randSlice(rng, len(v32))
				AttentionBackward(fq, fk, fv, r, q32, k32, v32, probs, full, scale)
				require.Equal(t, [][]float32{dq, dk, dv}, [][]float32{fq, fk, fv}, "AttentionBackward")
			}
			if s.Tq*s.Tk > 1000 { // finite differences too slow: compare with AttentionBackward below
				return
			}
			q, k, v := to64(q32), to64(k32), to64(v32)
			loss := func() float64 { return reftest.Dot(refAttentionCached(q, k, v, mask, s, float64(scale)), to64(r)) }
			requireClose(t, reftest.NumGrad(q, loss), dq, 1e-4, "dq")
			wdk, wdv := reftest.NumGrad(k, loss), reftest.NumGrad(v, loss)
			for b := 0; b < s.B; b++ { // the first Tk slots only
				lo, hi := b*C*s.Hkv*s.D, (b*C+s.Tk)*s.Hkv*s.D
				requireClose(t, wdk[lo:hi], dk[lo:hi], 1e-4, fmt.Sprintf("dk row %d", b))
				requireClose(t, wdv[lo:hi], dv[lo:hi], 1e-4, fmt.Sprintf("dv row %d", b))
			}
		})
	}
}

// TestAttentionCachedBackwardMatchesFull checks that the queries' gradients against a past
// equal those of full causal attention over past and queries in which the past's own queries
// get no gradient.
func TestAttentionCachedBackwardMatchesFull(t *testing.T) {
	rng := newRNG(23)
	for _, sz := range [][2]int{{5, 9}, {50, 130}, {97, 97}} {
		tq, tk := sz[0], sz[1]
		full := AttnShape{B: 2, T: tk, Hq: 4, Hkv: 2, D: 16}
		cs := CachedShape{B: 2, Tq: tq, Tk: tk, Hq: 4, Hkv: 2, D: 16}
		qd := full.Hq * full.D
		qf := randSlice(rng, full.B*tk*qd)
		k := randSlice(rng, full.B*tk*full.Hkv*full.D)
		v := randSlice(rng, len(k))
		dof := randSlice(rng, len(qf))
		q := make([]float32, full.B*tq*qd)
		dout := make([]float32, len(q))
		for b := 0; b < full.B; b++ {
			for i := 0; i < tk-tq; i++ { // the past's queries get no gradient
				clear(dof[(b*tk+i)*qd : (b*tk+i+1)*qd])
			}
			copy(q[b*tq*qd:(b+1)*tq*qd], qf[(b*tk+tk-tq)*qd:])
			copy(dout[b*tq*qd:(b+1)*tq*qd], dof[(b*tk+tk-tq)*qd:])
		}
		scale := float32(0.25)
		pf := make([]float32, full.B*full.Hq*tk*tk)
		Attention(make([]float32, len(qf)), qf, k, v, pf, nil, full, scale)
		dqf, dkf, dvf := make([]float32, len(qf)), make([]float32, len(k)), make([]float32, len(k))
		AttentionBackward(dqf, dkf, dvf, dof, qf, k, v, pf, full, scale)
		pc := make([]float32, cs.B*cs.Hq*tq*tk)
		AttentionCachedTrain(make([]float32, len(q)), q, k, v, pc, nil, cs, scale)
		dq, dk, dv := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(k))
		AttentionCachedBackward(dq, dk, dv, dout, q, k, v, pc, cs, scale)
		dqw := make([]float32, len(q))
		for b := 0; b < full.B; b++ {
			copy(dqw[b*tq*qd:(b+1)*tq*qd], dqf[(b*tk+tk-tq)*qd:])
		}
		requireClose(t, to64(dqw), dq, 1e-5, fmt.Sprintf("%v dq", sz))
		requireClose(t, to64(dkf), dk, 1e-5, fmt.Sprintf("%v dk", sz))
		requireClose(t, to64(dvf), dv, 1e-5, fmt.Sprintf("%v dv", sz))
	}
}
