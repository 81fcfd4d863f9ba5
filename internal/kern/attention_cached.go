package kern

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
// key gets out = 0. The first Tk key and value slots must hold finite numbers, masked ones
// included (they are multiplied by probability 0). With Tk == Tq (and Cap == Tk) the result
// equals Attention's, computed with the same float32 arithmetic (scores scaled by scale,
// max-subtracted softmax summed in float64).
func (th Threads) AttentionCached(out, q, k, v, mask []float32, s CachedShape, scale float32) {
	th.attend(out, q, k, v, nil, mask, s, scale)
}
