package model

import (
	"context"
	"fmt"
	"math"

	"github.com/valora-go/valora/internal/kern"
)

// Adapter adds an update to the output of a projection; package lora implements it with
// low-rank matrices. AddDelta adds the update for projection p of layer to y [m, out], given
// the projection's input x [m, in]. It is called after y holds the frozen projection.
type Adapter interface {
	AddDelta(layer int, p Proj, y, x []float32, m int)
}

// Batch is a padded batch of token ids, B rows of T tokens, flattened row-major.
type Batch struct {
	B, T int
	IDs  []int32   // [B*T] token ids (pad positions may hold any valid id)
	Mask []float32 // [B*T] 1 for real tokens, 0 for padding; nil means no padding
	Pos  []int32   // [B*T] position ids; nil means 0..T-1 in every row
}

// NewBatch left-pads rows of different lengths to the longest, as generation and last-token
// scoring want: the last real token of every row is at position T-1. Position ids restart at 0
// after the pads (cumsum(mask)-1, clamped at 0, as transformers does). pad fills pad slots.
func NewBatch(rows [][]int, pad int) (Batch, error) {
	if len(rows) == 0 {
		return Batch{}, fmt.Errorf("model: empty batch")
	}
	t := 0
	for i, r := range rows {
		if len(r) == 0 {
			return Batch{}, fmt.Errorf("model: batch row %d is empty", i)
		}
		t = max(t, len(r))
	}
	b := Batch{B: len(rows), T: t, IDs: make([]int32, len(rows)*t), Pos: make([]int32, len(rows)*t)}
	padded := false
	for _, r := range rows {
		padded = padded || len(r) < t
	}
	if padded {
		b.Mask = make([]float32, len(rows)*t)
	}
	for i, r := range rows {
		off := t - len(r)
		for j := 0; j < t; j++ {
			k := i*t + j
			if j < off {
				b.IDs[k] = int32(pad)
				continue
			}
			b.IDs[k] = int32(r[j-off])
			b.Pos[k] = int32(j - off)
			if b.Mask != nil {
				b.Mask[k] = 1
			}
		}
	}
	return b, nil
}

// Last returns, for each row, the flat index (row*T + t) of its last real token.
func (b Batch) Last() []int {
	out := make([]int, b.B)
	for i := range out {
		last := b.T - 1
		if b.Mask != nil {
			for last > 0 && b.Mask[i*b.T+last] == 0 {
				last--
			}
		}
		out[i] = i*b.T + last
	}
	return out
}

func (b Batch) validate(vocab int) error {
	n := b.B * b.T
	if b.B <= 0 || b.T <= 0 {
		return fmt.Errorf("model: batch shape %dx%d", b.B, b.T)
	}
	if len(b.IDs) != n {
		return fmt.Errorf("model: batch has %d ids for shape %dx%d", len(b.IDs), b.B, b.T)
	}
	if b.Mask != nil && len(b.Mask) != n {
		return fmt.Errorf("model: batch mask has %d entries, want %d", len(b.Mask), n)
	}
	if b.Pos != nil && len(b.Pos) != n {
		return fmt.Errorf("model: batch position ids have %d entries, want %d", len(b.Pos), n)
	}
	for i, id := range b.IDs {
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("model: token id %d at row %d position %d is outside the vocabulary [0,%d)", id, i/b.T, i%b.T, vocab)
		}
	}
	for i, p := range b.Pos {
		if p < 0 {
			return fmt.Errorf("model: negative position id %d at row %d position %d", p, i/b.T, i%b.T)
		}
	}
	return nil
}

// Options selects what Forward computes.
type Options struct {
	// Rows are the flat token indices (row*T + t) whose logits are computed, in this order.
	// nil computes every position.
	Rows []int
	// Hidden keeps the hidden states: the embedding output, then each decoder layer's output;
	// the last entry is taken after the final norm (as transformers' output_hidden_states).
	Hidden bool
	// Adapter, if set, adds its update to every projection it covers.
	Adapter Adapter
	// Cache, if set, makes the batch continue the tokens cached in it (see Cache): every row's
	// tokens attend to the row's cached tokens (honouring their padding mask) and to the
	// batch's earlier tokens, and are appended to the cache when the pass succeeds. With a
	// cache, a nil Batch.Pos continues the row's positions: the cache's next position plus
	// cumsum(mask)-1 (clamped at 0) over the batch's row. Padding may be on either side; the
	// padded slots stay masked for later passes. An empty cache takes the batch's row count.
	Cache *Cache
}

// Output of a forward pass.
type Output struct {
	Logits []float32   // [len(Rows), vocab] (or [B*T, vocab] when Rows is nil)
	Vocab  int         // row width of Logits
	Hidden [][]float32 // [layers+1][B*T*hidden] when Options.Hidden
}

// Row returns the logits of the i-th selected row.
func (o *Output) Row(i int) []float32 { return o.Logits[i*o.Vocab : (i+1)*o.Vocab] }

// Forward runs the model on a batch, after the tokens of Options.Cache when it is set. It checks
// ctx between layers.
func (m *Model) Forward(ctx context.Context, b Batch, opt Options) (*Output, error) {
	c := &m.Config
	if err := b.validate(c.VocabSize); err != nil {
		return nil, err
	}
	n := b.B * b.T
	for _, r := range opt.Rows {
		if r < 0 || r >= n {
			return nil, fmt.Errorf("model: logits row %d outside the batch's %d tokens", r, n)
		}
	}
	var st *cacheStep
	if opt.Cache != nil {
		var err error
		if st, err = opt.Cache.begin(c, b); err != nil {
			return nil, err
		}
	}
	out, err := m.forward(ctx, b, opt, st)
	if st != nil {
		if err != nil {
			st.abort()
		} else {
			st.commit(b)
		}
	}
	return out, err
}

func (m *Model) forward(ctx context.Context, b Batch, opt Options, st *cacheStep) (*Output, error) {
	c := &m.Config
	n := b.B * b.T
	pos := b.Pos
	if st != nil {
		pos = st.pos
	}
	if pos == nil {
		pos = make([]int32, n)
		for i := range pos {
			pos[i] = int32(i % b.T)
		}
	}
	h := c.HiddenSize
	x := make([]float32, n*h)
	for i, id := range b.IDs {
		m.Embed.RowF32(int(id), x[i*h:(i+1)*h])
	}
	out := &Output{Vocab: c.VocabSize}
	if opt.Hidden {
		out.Hidden = append(out.Hidden, append([]float32(nil), x...))
	}
	ws := newWorkspace(c, n)
	for l := range m.Layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m.layer(l, x, b, pos, ws, opt.Adapter, st)
		if opt.Hidden && l < len(m.Layers)-1 {
			out.Hidden = append(out.Hidden, append([]float32(nil), x...))
		}
	}
	eps := float32(c.RMSNormEps)
	if opt.Hidden {
		kern.RMSNorm(x, x, m.Norm, h, eps)
		out.Hidden = append(out.Hidden, append([]float32(nil), x...))
	}
	rows := opt.Rows
	if rows == nil {
		rows = make([]int, n)
		for i := range rows {
			rows[i] = i
		}
	}
	sel := make([]float32, len(rows)*h)
	for i, r := range rows {
		copy(sel[i*h:(i+1)*h], x[r*h:(r+1)*h])
	}
	if !opt.Hidden {
		kern.RMSNorm(sel, sel, m.Norm, h, eps)
	}
	out.Logits = make([]float32, len(rows)*c.VocabSize)
	kern.Linear(out.Logits, sel, len(rows), m.LMHead, false)
	return out, nil
}

// workspace holds a forward pass's activations, reused across layers.
type workspace struct {
	h, q, k, v, attn, gate, up []float32
}

func newWorkspace(c *Config, n int) *workspace {
	qd, kvd := c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim
	return &workspace{
		h: make([]float32, n*c.HiddenSize), q: make([]float32, n*qd), k: make([]float32, n*kvd),
		v: make([]float32, n*kvd), attn: make([]float32, n*qd),
		gate: make([]float32, n*c.IntermediateSize), up: make([]float32, n*c.IntermediateSize),
	}
}

// layer runs decoder layer l on the residual stream x in place.
func (m *Model) layer(l int, x []float32, b Batch, pos []int32, ws *workspace, ad Adapter, st *cacheStep) {
	c := &m.Config
	L := &m.Layers[l]
	n := b.B * b.T
	h, d := c.HiddenSize, c.HeadDim
	eps := float32(c.RMSNormEps)
	proj := func(p Proj, y, in []float32, accumulate bool) {
		kern.Linear(y, in, n, L.Proj[p], accumulate)
		if ad != nil {
			ad.AddDelta(l, p, y, in, n)
		}
	}

	kern.RMSNorm(ws.h, x, L.InputNorm, h, eps)
	proj(ProjQ, ws.q, ws.h, false)
	proj(ProjK, ws.k, ws.h, false)
	proj(ProjV, ws.v, ws.h, false)
	if c.QKNorm {
		kern.RMSNorm(ws.q, ws.q, L.QNorm, d, eps)
		kern.RMSNorm(ws.k, ws.k, L.KNorm, d, eps)
	}
	m.rope.Apply(ws.q, pos, c.NumHeads)
	m.rope.Apply(ws.k, pos, c.NumKVHeads)
	scale := float32(1 / math.Sqrt(float64(d)))
	if st != nil {
		st.store(l, ws.k, ws.v, b.B, b.T)
		cc := st.c
		shape := kern.CachedShape{B: b.B, Tq: b.T, Tk: st.past + b.T, Cap: cc.slots, Hq: c.NumHeads, Hkv: c.NumKVHeads, D: d}
		kern.AttentionCached(ws.attn, ws.q, cc.k[l], cc.v[l], cc.mask, shape, scale)
	} else {
		shape := kern.AttnShape{B: b.B, T: b.T, Hq: c.NumHeads, Hkv: c.NumKVHeads, D: d}
		kern.Attention(ws.attn, ws.q, ws.k, ws.v, nil, b.Mask, shape, scale)
	}
	proj(ProjO, x, ws.attn, true)

	kern.RMSNorm(ws.h, x, L.PostNorm, h, eps)
	proj(ProjGate, ws.gate, ws.h, false)
	proj(ProjUp, ws.up, ws.h, false)
	kern.SwiGLU(ws.gate, ws.gate, ws.up)
	proj(ProjDown, x, ws.gate, true)
}
