package train

// Shared prompt prefixes in the training graph. A batch whose rows start with the same tokens
// (survey prompts share their chat header and task text, and a statement's templates share
// the statement) runs each common prefix once: the graph's token matrices hold G prefixes of P
// tokens, then the B rows' own tokens (T each, see shapeKey). Every token-wise op (norms,
// projections with their LoRA branches, the MLP, residual sums) runs over the concatenation
// unchanged; attention (sharedAttn) lets each prefix attend to itself causally and each row
// attend to its group's prefix and then causally to its own tokens. Backward, the gradients of
// a prefix's keys and values are the sum of those from its own queries and those from every row
// of its group, so the sum of the rows' gradients flows through the prefix's layers once: the
// loss and the LoRA gradients are those of the rows run in full.

import (
	"context"
	"fmt"
	"slices"

	"github.com/valora-go/valora/internal/kern"
	"github.com/valora-go/valora/internal/prefix"
)

// sharedAttn is attention over a batch with shared prefixes: the op's shape is that of the
// B rows' own tokens, preceded by g prefixes of p tokens.
type sharedAttn struct{ g, p int }

// newSharedAttention returns the attention op of a batch with g shared prefixes of p tokens.
// Its probabilities are [G,Hq,P,P] (the prefixes') and [B,Hq,T,P+T] (the rows').
func newSharedAttention(name string, s kern.AttnShape, g, p int, in *stepInputs, scale float32) *attnOp {
	return newAttnOp(name, s, in, scale, sharedAttn{g, p}, g*s.Hq*p*p, s.B*s.Hq*s.T*(p+s.T))
}

// prefixShape is the shape of the prefixes' attention to themselves.
func (a sharedAttn) prefixShape(st *attnState) kern.AttnShape {
	s := st.shape
	return kern.AttnShape{B: a.g, T: a.p, Hq: s.Hq, Hkv: s.Hkv, D: s.D}
}

// cachedShape is the shape of the rows' attention over their prefix and own keys.
func (a sharedAttn) cachedShape(st *attnState) kern.CachedShape {
	s := st.shape
	return kern.CachedShape{B: s.B, Tq: s.T, Tk: a.p + s.T, Hq: s.Hq, Hkv: s.Hkv, D: s.D}
}

// gather writes each row's keys (or values) into dst [B, P+T, kd]: its prefix's (zeros for a
// row without one), then its own; src is [G*P + B*T, kd].
func (a sharedAttn) gather(th kern.Threads, st *attnState, dst, src []float32) {
	s := st.shape
	kd := s.Hkv * s.D
	P, T := a.p, s.T
	own := src[a.g*P*kd:]
	th.ParallelFor(s.B, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := dst[r*(P+T)*kd : (r+1)*(P+T)*kd]
			if g := st.in.group[r]; g >= 0 {
				copy(row[:P*kd], src[g*P*kd:(g+1)*P*kd])
			} else {
				clear(row[:P*kd])
			}
			copy(row[P*kd:], own[r*T*kd:(r+1)*T*kd])
		}
	})
}

// forward: the prefixes' own attention, then the rows' over their prefix's keys and their own.
func (a sharedAttn) forward(o *base, st *attnState, out, q, k, v []float32) {
	s := st.shape
	P, T := a.p, s.T
	qd, kd := s.Hq*s.D, s.Hkv*s.D
	np := a.g * P
	probsP, probsS := st.probs[0].data, st.probs[1].data
	o.th().Attention(out[:np*qd], q[:np*qd], k[:np*kd], v[:np*kd], probsP, st.in.mask[:np], a.prefixShape(st), st.scale)
	kc, vc := o.scratch(s.B*(P+T)*kd), o.scratch(s.B*(P+T)*kd)
	a.gather(o.th(), st, kc.data, k)
	a.gather(o.th(), st, vc.data, v)
	o.th().AttentionCachedTrain(out[np*qd:], q[np*qd:], kc.data, vc.data, probsS, st.in.keyMask, a.cachedShape(st), st.scale)
	o.drop(kc)
	o.drop(vc)
}

// backward: the rows' gradients over the keys they see (prefix and own), the prefixes' own
// attention, then what each prefix's rows send back to its keys and values, summed row by row.
func (a sharedAttn) backward(o *base, st *attnState, dd, x [][]float32) {
	dq, dk, dv := dd[0], dd[1], dd[2]
	q, k, v, dout := x[0], x[1], x[2], x[3]
	s := st.shape
	P, T := a.p, s.T
	qd, kd := s.Hq*s.D, s.Hkv*s.D
	np := a.g * P
	probsP, probsS := st.probs[0].data, st.probs[1].data
	n := s.B * (P + T) * kd
	kc, vc, dkc, dvc := o.scratch(n), o.scratch(n), o.scratch(n), o.scratch(n)
	a.gather(o.th(), st, kc.data, k)
	a.gather(o.th(), st, vc.data, v)
	o.th().AttentionCachedBackward(dq[np*qd:], dkc.data, dvc.data, dout[np*qd:], q[np*qd:], kc.data, vc.data, probsS, a.cachedShape(st), st.scale)
	o.drop(kc)
	o.drop(vc)
	o.th().AttentionBackward(dq[:np*qd], dk[:np*kd], dv[:np*kd], dout[:np*qd], q[:np*qd], k[:np*kd], v[:np*kd], probsP, a.prefixShape(st), st.scale)
	o.th().ParallelFor(a.g, 1, func(lo, hi int) {
		for g := lo; g < hi; g++ {
			dkg, dvg := dk[g*P*kd:(g+1)*P*kd], dv[g*P*kd:(g+1)*P*kd]
			for r, rg := range st.in.group {
				if rg == g {
					addTo(dkg, dkc.data[r*(P+T)*kd:(r*(P+T)+P)*kd])
					addTo(dvg, dvc.data[r*(P+T)*kd:(r*(P+T)+P)*kd])
				}
			}
		}
	})
	for r := range s.B {
		copy(dk[(np+r*T)*kd:(np+(r+1)*T)*kd], dkc.data[(r*(P+T)+P)*kd:(r+1)*(P+T)*kd])
		copy(dv[(np+r*T)*kd:(np+(r+1)*T)*kd], dvc.data[(r*(P+T)+P)*kd:(r+1)*(P+T)*kd])
	}
	o.drop(dkc)
	o.drop(dvc)
}

// minSharedPrefix is the fewest tokens examples must share to be ordered next to each other
// (Config.PrefixSharing).
const minSharedPrefix = 16

// OrderByPrefix returns the indices of xs in the order the trainer gives them with prefix
// sharing: examples whose prompts share at least 16 tokens next to each other (the groups, and
// the members of each, permuted by shuffle, as math/rand's Shuffle), then the others in
// ascending order.
func OrderByPrefix(xs []Example, shuffle func(n int, swap func(i, j int))) []int {
	prompts := make([][]int, len(xs))
	for i, x := range xs {
		prompts[i] = x.Prompt
	}
	order, alone := prefix.Order(prompts, minSharedPrefix, shuffle)
	return append(order, alone...)
}

// SharedSlots returns the token slots a batch takes run in full (rows times the longest row)
// and as AccumulateExamples runs it with shared prefixes (equal when nothing is worth sharing).
func SharedSlots(xs []Example) (full, shared int) {
	rows, own := sharedRows(xs)
	l := prefix.Plan(rows, own, shapeQuantum)
	return l.Full, l.Cost
}

// sharedRows returns the examples' token rows and, per row, the trailing tokens it must keep
// for itself: the answer and the token that predicts its first token.
func sharedRows(xs []Example) (rows [][]int, own []int) {
	rows = make([][]int, len(xs))
	own = make([]int, len(xs))
	for i, x := range xs {
		rows[i] = slices.Concat(x.Prompt, x.Answer)
		own[i] = len(x.Answer) + 1
	}
	return rows, own
}

// AccumulateExamples is Accumulate on examples (the loss on their answer tokens), with pad in
// the pad slots. With share, rows that start with the same tokens run their common prefix once
// (prefix.Plan chooses the groups, when that saves at least a tenth of the work); the loss and
// the gradients are those of the batch run in full, up to float32 rounding. Without share, with
// an adapter that has dropout (every row draws its own masks, a shared prefix could not), or
// when nothing worth sharing is found, it is Collate followed by Accumulate.
func (e *Engine) AccumulateExamples(ctx context.Context, xs []Example, pad int, scale float32, share bool) (float64, int, error) {
	if len(xs) == 0 {
		return 0, 0, fmt.Errorf("train: empty batch")
	}
	if err := validateExamples("batch", xs, e.m.Config.VocabSize); err != nil {
		return 0, 0, err
	}
	if pad < 0 || pad >= e.m.Config.VocabSize {
		return 0, 0, fmt.Errorf("train: pad id %d outside the vocabulary [0,%d)", pad, e.m.Config.VocabSize)
	}
	if !share || len(xs) < 2 || e.a.Config.Dropout > 0 { // dropout: each row draws its own masks
		return e.accumulateFull(ctx, xs, pad, scale)
	}
	rows, own := sharedRows(xs)
	l := prefix.Plan(rows, own, shapeQuantum)
	if !l.Shared() {
		return e.accumulateFull(ctx, xs, pad, scale)
	}
	return e.accumulateShared(ctx, xs, rows, l, pad, scale)
}

func (e *Engine) accumulateFull(ctx context.Context, xs []Example, pad int, scale float32) (float64, int, error) {
	b, labels, err := Collate(xs, pad)
	if err != nil {
		return 0, 0, err
	}
	return e.Accumulate(ctx, b, labels, scale)
}

// accumulateShared runs a batch laid out by l: the prefixes (left-padded to l.P), then each
// row's remaining tokens (left-padded to l.S), positions continuing the prefix's.
func (e *Engine) accumulateShared(ctx context.Context, xs []Example, rows [][]int, l prefix.Layout, pad int, scale float32) (float64, int, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	c := &e.m.Config
	G, P, B, S := len(l.Groups), l.P, len(xs), l.S
	np := G * P
	n := np + B*S
	ids := make([]int32, n)
	mask := make([]float32, n)
	pos := make([]int32, n)
	for i := range ids {
		ids[i] = int32(pad)
	}
	for g, gp := range l.Groups {
		src := rows[gp.Rows[0]][:gp.Len]
		off := g*P + P - gp.Len
		for j, id := range src {
			ids[off+j], mask[off+j], pos[off+j] = int32(id), 1, int32(j)
		}
	}
	group := make([]int, B)
	keyMask := make([]float32, B*(P+S))
	var sel []int
	var targets []int32
	for r, x := range xs {
		q := 0
		group[r] = l.Group[r]
		if g := l.Group[r]; g >= 0 {
			q = l.Groups[g].Len
			copy(keyMask[r*(P+S):], mask[g*P:(g+1)*P])
		}
		rest := rows[r][q:]
		off := np + r*S + S - len(rest)
		for j, id := range rest {
			ids[off+j], mask[off+j], pos[off+j] = int32(id), 1, int32(q+j)
			keyMask[r*(P+S)+P+S-len(rest)+j] = 1
		}
		for j, a := range x.Answer { // the answer ends the row; token t predicts t+1
			sel = append(sel, off+len(rest)-len(x.Answer)+j-1)
			targets = append(targets, int32(a))
		}
	}
	for i, id := range ids {
		if id < 0 || int(id) >= c.VocabSize {
			return 0, 0, fmt.Errorf("train: token id %d at position %d of a shared-prefix batch is outside the vocabulary [0,%d)", id, i, c.VocabSize)
		}
	}
	for len(sel)%shapeQuantum != 0 {
		sel, targets = append(sel, 0), append(targets, -1)
	}
	gr, err := e.graph(shapeKey{b: B, t: S, k: len(sel), padded: true, g: G, p: P})
	if err != nil {
		return 0, 0, err
	}
	in := gr.in
	copy(in.mask, mask)
	copy(in.pos, pos)
	copy(in.group, group)
	copy(in.keyMask, keyMask)
	in.rows, in.targets, in.scale = sel, targets, scale
	return e.run(gr, ids)
}
