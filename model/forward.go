package model

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/valora-go/valora/internal/kern"
)

// Adapter adds an update to the output of a projection; package lora implements it with
// low-rank matrices. AddDelta adds the update for projection p of layer to y [m, out], given
// the projection's input x [m, in]. It is called after y holds the frozen projection.
type Adapter interface {
	AddDelta(layer int, p Proj, y, x []float32, m int)
}

// LowRankAdapter is an Adapter whose update is scale · (x Aᵀ) Bᵀ (LoRA). Forward then computes
// x Aᵀ in the same matrix product as the frozen projection (A stacked under W, so x is packed
// once) and adds scale · (x Aᵀ) Bᵀ into the output, instead of calling AddDelta.
type LowRankAdapter interface {
	Adapter
	// LowRank returns the update of projection p of layer: A [rank, in] and B [out, rank],
	// row-major float32, and the scale; ok is false when the projection has no update (or the
	// adapter is merged into the weights).
	LowRank(layer int, p Proj) (a, b []float32, rank int, scale float32, ok bool)
}

// AdapterChecker is implemented by adapters that can tell whether they were made for a model of
// shape c (lora.Adapter does: number of layers and every matrix's shape). Forward asks before
// every pass that uses the adapter and returns the error instead of running.
type AdapterChecker interface {
	CheckModel(c *Config) error
}

// CheckAdapter reports whether ad fits m: an AdapterChecker is asked, and the update of every
// projection a LowRankAdapter returns must have the projection's shape (A [rank, in], B
// [out, rank], rank > 0). A nil adapter fits. Forward calls it before every pass; the cost is a
// few comparisons per projection.
func (m *Model) CheckAdapter(ad Adapter) error {
	if ad == nil {
		return nil
	}
	c := &m.Config
	if ck, ok := ad.(AdapterChecker); ok {
		if err := ck.CheckModel(c); err != nil {
			return fmt.Errorf("model: %s: adapter does not fit the model: %w", m.Dir, err)
		}
	}
	lr, ok := ad.(LowRankAdapter)
	if !ok {
		return nil
	}
	for l := 0; l < c.NumLayers; l++ {
		for p := Proj(0); p < NumProj; p++ {
			a, bm, r, _, ok := lr.LowRank(l, p)
			if !ok {
				continue
			}
			s := c.ProjShape(p)
			if r <= 0 || int64(len(a)) != int64(r)*int64(s[1]) || int64(len(bm)) != int64(s[0])*int64(r) {
				return fmt.Errorf("model: %s: adapter does not fit the model: layer %d %s: rank %d with A of %d values and B of %d, want A [%d,%d] and B [%d,%d] for the weight's shape [%d,%d]",
					m.Dir, l, p, r, len(a), len(bm), r, s[1], s[0], r, s[0], s[1])
			}
		}
	}
	return nil
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
	// Threads caps the goroutines the pass runs its kernels on (0: the model's cap, see
	// SetThreads).
	Threads int
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
// ctx between layers. Forward may be called concurrently (with different caches); its scratch
// buffers come from a pool, so that in steady state a pass allocates only its Output. An
// adapter that does not fit the model is an error (see CheckAdapter); after Close, Forward
// returns an error wrapping ErrClosed.
func (m *Model) Forward(ctx context.Context, b Batch, opt Options) (*Output, error) {
	if err := m.enter("forward"); err != nil {
		return nil, err
	}
	defer m.leave()
	return m.pass(ctx, b, opt)
}

// pass is Forward inside a pass already entered (Generate runs its steps with it).
func (m *Model) pass(ctx context.Context, b Batch, opt Options) (*Output, error) {
	c := &m.Config
	if err := b.validate(c.VocabSize); err != nil {
		return nil, err
	}
	if err := m.CheckAdapter(opt.Adapter); err != nil {
		return nil, err
	}
	n := b.B * b.T
	for _, r := range opt.Rows {
		if r < 0 || r >= n {
			return nil, fmt.Errorf("model: logits row %d outside the batch's %d tokens", r, n)
		}
	}
	ws := getWorkspace(c, n, len(opt.Rows))
	defer wsPool.Put(ws)
	ws.th = m.threadsFor(opt.Threads)
	var st *cacheStep
	if opt.Cache != nil {
		if err := opt.Cache.begin(c, b, &ws.step, ws.pos); err != nil {
			return nil, err
		}
		st = &ws.step
	}
	out, err := m.forward(ctx, b, opt, st, ws)
	if st != nil {
		if err != nil {
			st.abort()
		} else {
			st.commit(b)
		}
		ws.step = cacheStep{} // drop the references to the cache
	}
	return out, err
}

func (m *Model) forward(ctx context.Context, b Batch, opt Options, st *cacheStep, ws *workspace) (*Output, error) {
	c := &m.Config
	n := b.B * b.T
	pos := b.Pos
	if st != nil {
		pos = st.pos
	}
	if pos == nil {
		pos = ws.pos
		for i := range pos {
			pos[i] = int32(i % b.T)
		}
	}
	h := c.HiddenSize
	x := ws.x
	for i, id := range b.IDs {
		m.Embed.RowF32(int(id), x[i*h:(i+1)*h])
	}
	// Every layer rotates its queries and keys by the same angles: evaluate them once.
	ws.th.RopeAngles(m.rope, ws.cos, ws.sin, pos)
	out := &Output{Vocab: c.VocabSize}
	if opt.Hidden {
		out.Hidden = make([][]float32, 0, len(m.Layers)+1)
		out.Hidden = append(out.Hidden, slices.Clone(x))
	}
	// Without hidden states, the last layer's output is only needed at the selected rows: its
	// attention output is gathered there and the rest of the layer runs on those rows only.
	var only []int
	if !opt.Hidden && opt.Rows != nil && len(opt.Rows) < n {
		only = opt.Rows
	}
	for l := range m.Layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var rows []int
		if l == len(m.Layers)-1 {
			rows = only
		}
		m.layer(l, x, b, ws, opt.Adapter, st, rows)
		if opt.Hidden && l < len(m.Layers)-1 {
			out.Hidden = append(out.Hidden, slices.Clone(x))
		}
	}
	eps := float32(c.RMSNormEps)
	var sel []float32
	nr := n
	switch {
	case only != nil:
		// The last layer left the selected rows' hidden states in ws.sel.
		nr = len(only)
		sel = ws.sel[:nr*h]
		ws.th.RMSNorm(sel, sel, m.Norm, h, eps)
	case opt.Rows == nil:
		// Every position: normalise the residual stream in place.
		ws.th.RMSNorm(x, x, m.Norm, h, eps)
		if opt.Hidden {
			out.Hidden = append(out.Hidden, slices.Clone(x))
		}
		sel = x
	default:
		ws.th.RMSNorm(x, x, m.Norm, h, eps)
		if opt.Hidden {
			out.Hidden = append(out.Hidden, slices.Clone(x))
		}
		nr = len(opt.Rows)
		sel = ws.sel[:nr*h]
		for i, r := range opt.Rows {
			copy(sel[i*h:(i+1)*h], x[r*h:(r+1)*h])
		}
	}
	out.Logits = make([]float32, nr*c.VocabSize)
	ws.th.Linear(out.Logits, sel, nr, m.LMHead, false)
	if i := firstNonFinite(out.Logits); i >= 0 {
		// Weights are not scanned at load (it would read every page of a mapped checkpoint):
		// the first pass that produces a NaN or infinity names the tensor that holds one.
		if err := m.checkFinite(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("model: %s: the forward pass produced a non-finite logit (%v in output row %d) from finite weights: check the adapter and the inputs", m.Dir, out.Logits[i], i/c.VocabSize)
	}
	return out, nil
}

// workspace holds a forward pass's scratch: the residual stream x, one layer's activations
// (reused across layers), the rows gathered for the logits, the position ids and the cache
// step. Workspaces are pooled (wsPool) and reused across passes; getWorkspace sizes one for a
// pass, and the contents it hands out are undefined (every buffer is written before it is
// read).
type workspace struct {
	x, h, q, k, v, attn, gate, up []float32
	sel                           []float32 // [selected rows, hidden]
	t                             []float32 // [tokens, rank]: a LoRA projection's x Aᵀ
	cos, sin                      []float32 // [tokens, head dim / 2]: the rotary angles of the pass
	pos                           []int32
	step                          cacheStep
	th                            kern.Threads // the pass's cap on kernel goroutines
}

// wsPool holds idle workspaces. Concurrent passes each take their own.
var wsPool = sync.Pool{New: func() any { return new(workspace) }}

// resize returns s with length n, reusing its storage when it is large enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// getWorkspace takes a workspace from the pool, sized for n tokens of a model of shape c and
// nrows selected rows.
func getWorkspace(c *Config, n, nrows int) *workspace {
	ws := wsPool.Get().(*workspace)
	qd, kvd := c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim
	ws.x = resize(ws.x, n*c.HiddenSize)
	ws.h = resize(ws.h, n*c.HiddenSize)
	ws.q = resize(ws.q, n*qd)
	ws.k = resize(ws.k, n*kvd)
	ws.v = resize(ws.v, n*kvd)
	ws.attn = resize(ws.attn, n*qd)
	ws.gate = resize(ws.gate, n*c.IntermediateSize)
	ws.up = resize(ws.up, n*c.IntermediateSize)
	ws.sel = resize(ws.sel, nrows*c.HiddenSize)
	ws.pos = resize(ws.pos, n)
	ws.cos = resize(ws.cos, n*c.HeadDim/2)
	ws.sin = resize(ws.sin, n*c.HeadDim/2)
	return ws
}

// layer runs decoder layer l (the operations of Config.LayerOps) on the residual stream x in
// place. With rows set (the last layer of a pass that only needs the hidden states of those
// flat token indices) the attention runs over every token as usual, then the rest of the layer
// runs on the selected rows only, whose outputs it leaves in ws.sel [len(rows), hidden]; x is
// then left unfinished. With a cache step, the attention stores the keys and values in the
// cache and attends over the cached ones too.
func (m *Model) layer(l int, x []float32, b Batch, ws *workspace, ad Adapter, st *cacheStep, rows []int) {
	c := &m.Config
	L := &m.Layers[l]
	n := b.B * b.T
	h, d := c.HiddenSize, c.HeadDim
	eps := float32(c.RMSNormEps)
	lr, _ := ad.(LowRankAdapter)
	proj := func(p Proj, y, in []float32, rows int, accumulate bool) {
		w := L.Proj[p]
		if lr != nil {
			if a, bm, r, scale, ok := lr.LowRank(l, p); ok {
				ws.t = resize(ws.t, rows*r)
				ws.th.LinearLoRA(y, ws.t, in, rows, w, a, r, accumulate)
				ws.th.Gemm(false, true, rows, w.Rows, r, scale, ws.t, r, bm, r, 1, y, w.Rows)
				return
			}
		}
		ws.th.Linear(y, in, rows, w, accumulate)
		if ad != nil {
			ad.AddDelta(l, p, y, in, rows)
		}
	}

	attn, m2 := ws.attn, n // the attention output and the rows the layer runs on after it
	gate, up := ws.gate, ws.up
	slot := func(s Slot) []float32 {
		switch s {
		case SlotX:
			return x
		case SlotH:
			return ws.h[:m2*h]
		case SlotQ:
			return ws.q
		case SlotK:
			return ws.k
		case SlotV:
			return ws.v
		case SlotAttn:
			return attn
		case SlotGate:
			return gate
		}
		return up
	}
	for _, op := range c.layerOps() {
		switch op.Kind {
		case OpNorm:
			w := L.Norm(op.Norm)
			ws.th.RMSNorm(slot(op.Out), slot(op.In), w, len(w), eps)
		case OpProject:
			proj(op.Proj, slot(op.Out), slot(op.In), m2, op.Residual)
		case OpRope:
			ws.th.RopeApplyAngles(m.rope, slot(op.In), ws.cos, ws.sin, c.SlotWidth(op.In)/d)
		case OpAttention:
			scale := float32(1 / math.Sqrt(float64(d)))
			if st != nil {
				st.store(l, ws.k, ws.v, b.B, b.T)
			}
			if rows != nil && len(rows) == 0 {
				return // nothing of the last layer is needed beyond its keys and values
			}
			if st != nil {
				cc := st.c
				shape := kern.CachedShape{B: b.B, Tq: b.T, Tk: st.past + b.T, Cap: cc.slots, Hq: c.NumHeads, Hkv: c.NumKVHeads, D: d}
				ws.th.AttentionCached(ws.attn, ws.q, cc.k[l], cc.v[l], cc.mask, shape, scale)
			} else {
				shape := kern.AttnShape{B: b.B, T: b.T, Hq: c.NumHeads, Hkv: c.NumKVHeads, D: d}
				ws.th.Attention(ws.attn, ws.q, ws.k, ws.v, nil, b.Mask, shape, scale)
			}
			if rows != nil {
				// Gather the selected rows: the residual into ws.sel, the attention output into
				// ws.q (free after the attention).
				qd := c.NumHeads * d
				m2 = len(rows)
				sx, sa := ws.sel[:m2*h], ws.q[:m2*qd]
				for i, r := range rows {
					copy(sx[i*h:(i+1)*h], x[r*h:(r+1)*h])
					copy(sa[i*qd:(i+1)*qd], ws.attn[r*qd:(r+1)*qd])
				}
				x, attn = sx, sa
			}
			gate, up = ws.gate[:m2*c.IntermediateSize], ws.up[:m2*c.IntermediateSize]
		case OpSwiGLU:
			ws.th.SwiGLU(gate, gate, up)
		}
	}
}
