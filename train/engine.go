package train

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/valora-go/valora/internal/kern"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// IgnoreIndex marks a label that does not count in the loss (as in transformers).
const IgnoreIndex = -100

// param is one LoRA pair with its gradient buffers and optimizer state.
type param struct {
	name         string
	layer        int
	pair         *lora.Pair
	gradA, gradB []float32
	mA, vA       []float32
	mB, vB       []float32
}

// Engine computes the loss of a model with an adapter on batches of token ids and the
// gradient of that loss with respect to the adapter's matrices, through a gorgonia graph
// compiled once per batch shape. Gradients accumulate until ZeroGrad.
type Engine struct {
	m      *model.Model
	a      *lora.Adapter
	params []*param
	graphs map[shapeKey]*graph
	pcg    *rand.PCG // dropout masks: one seed per step (dropSeed), each op its own stream
	rng    *rand.Rand
	// dropSeed seeds the dropout masks of the current step.
	dropSeed uint64
	// MaxGraphs bounds the compiled graphs kept (one per batch shape, lengths rounded up to a
	// multiple of 8); the least recently built is dropped beyond it. An idle graph holds only
	// its structure (about 1 MB for a 5-layer model).
	MaxGraphs int
	order     []shapeKey
	step      int
	// Checkpointing says when a step recomputes each layer's activations in the backward pass
	// instead of keeping them from the forward pass (memory.go): CheckpointAuto (the zero
	// value) does for a batch shape whose step would not fit in MemoryLimit otherwise.
	Checkpointing Checkpointing
	// MemoryLimit is the memory in bytes a step may take, weights and adapter state included
	// (0: AvailableMemory when a shape is first met). It decides CheckpointAuto and bounds
	// PlanMemory.
	MemoryLimit int64
	// Threads caps the goroutines a step's kernels and the optimizer update run on: n > 0 at
	// most n, 0 the model's cap (model.Model.SetThreads; uncapped by default).
	Threads  int
	ckptFor  map[shapeKey]bool // CheckpointAuto's decision per batch shape
	extraMem int64             // memory the trainer holds besides (its best-adapter copy)
	// pool recycles the buffers of the graphs' values across steps (pool.go).
	pool *bufPool
	// rows and targets are reused across steps.
	rows    []int
	targets []int32
}

// threads is the kernel goroutine cap of the engine's steps and updates.
func (e *Engine) threads() kern.Threads {
	if e.Threads > 0 {
		return kern.Threads(e.Threads)
	}
	return kern.Threads(e.m.Threads())
}

// NewEngine prepares training of a on m. seed drives dropout masks.
func NewEngine(m *model.Model, a *lora.Adapter, seed uint64) (*Engine, error) {
	if a.Merged() {
		return nil, fmt.Errorf("train: the adapter is merged into the model; unmerge it before training")
	}
	pcg := rand.NewPCG(seed, 0x74726169)
	e := &Engine{m: m, a: a, graphs: map[shapeKey]*graph{}, pcg: pcg, rng: rand.New(pcg), MaxGraphs: 64, pool: newPool(),
		ckptFor: map[shapeKey]bool{}}
	a.Each(func(l int, p model.Proj, pr *lora.Pair) {
		e.params = append(e.params, &param{
			name: fmt.Sprintf("layers.%d.%s", l, p.Module()), layer: l, pair: pr,
			gradA: make([]float32, len(pr.A)), gradB: make([]float32, len(pr.B)),
		})
	})
	if len(e.params) == 0 {
		return nil, fmt.Errorf("train: the adapter has no matrices to train")
	}
	return e, nil
}

// ZeroGrad clears the accumulated gradients.
func (e *Engine) ZeroGrad() {
	for _, p := range e.params {
		clear(p.gradA)
		clear(p.gradB)
	}
}

// Grad returns the accumulated gradients of the pair of projection p in layer l (views, not
// copies), or nils if there is no such pair.
func (e *Engine) Grad(l int, p model.Proj) (dA, dB []float32) {
	pr := e.a.Pair(l, p)
	for _, q := range e.params {
		if q.pair == pr && pr != nil {
			return q.gradA, q.gradB
		}
	}
	return nil, nil
}

// Accumulate runs the batch forward and backward and adds scale · d(loss sum)/d(adapter) to
// the gradients. labels has one entry per token ([B*T]); the logits at position t predict
// labels[t+1] of the same row, and IgnoreIndex entries do not count (transformers' causal-LM
// convention). It returns the summed cross-entropy of the counted tokens (unscaled) and their
// number. With scale = 1/count the gradient is that of the mean loss.
func (e *Engine) Accumulate(ctx context.Context, b model.Batch, labels []int32, scale float32) (float64, int, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	c := &e.m.Config
	n := b.B * b.T
	if b.B <= 0 || b.T <= 0 || len(b.IDs) != n {
		return 0, 0, fmt.Errorf("train: batch shape %dx%d with %d ids", b.B, b.T, len(b.IDs))
	}
	if len(labels) != n {
		return 0, 0, fmt.Errorf("train: %d labels for a %dx%d batch", len(labels), b.B, b.T)
	}
	if b.Mask != nil && len(b.Mask) != n || b.Pos != nil && len(b.Pos) != n {
		return 0, 0, fmt.Errorf("train: mask or position ids do not match the %dx%d batch", b.B, b.T)
	}
	for i, lab := range labels {
		if i%b.T != 0 && lab != IgnoreIndex && (lab < 0 || int(lab) >= c.VocabSize) {
			return 0, 0, fmt.Errorf("train: label %d at row %d position %d is outside the vocabulary [0,%d)", lab, i/b.T, i%b.T, c.VocabSize)
		}
	}
	rows, targets := labelRows(labels, b.T, e.rows[:0], e.targets[:0])
	defer func() { e.rows, e.targets = rows[:0], targets[:0] }()
	if len(rows) == 0 {
		return 0, 0, fmt.Errorf("train: batch has no label to predict")
	}
	for i, id := range b.IDs {
		if id < 0 || int(id) >= c.VocabSize {
			return 0, 0, fmt.Errorf("train: token id %d at row %d position %d is outside the vocabulary [0,%d)", id, i/b.T, i%b.T, c.VocabSize)
		}
	}
	b, rows = padShape(b, rows)
	for len(rows)%shapeQuantum != 0 { // padded rows: their target is ignored, their gradient 0
		rows, targets = append(rows, 0), append(targets, -1)
	}
	gr, err := e.graph(shapeKey{b: b.B, t: b.T, k: len(rows), padded: b.Mask != nil})
	if err != nil {
		return 0, 0, err
	}
	in := gr.in
	copy(in.mask, b.Mask)
	if b.Pos != nil {
		copy(in.pos, b.Pos)
	} else {
		for i := range in.pos {
			in.pos[i] = int32(i % b.T)
		}
	}
	in.rows, in.targets, in.scale = rows, targets, scale
	if e.a.Config.Dropout > 0 {
		e.dropSeed = e.rng.Uint64()
	}
	return e.run(gr, b.IDs)
}

// run embeds ids into the step's inputs (whose other fields the caller has filled), runs the
// step and returns its loss sum and count.
func (e *Engine) run(gr *graph, ids []int32) (float64, int, error) {
	h := e.m.Config.HiddenSize
	x0 := gr.in.x0.Data().([]float32)
	for i, id := range ids {
		e.m.Embed.RowF32(int(id), x0[i*h:(i+1)*h])
	}
	e.pool.threads = e.threads()
	if err := gr.run(); err != nil {
		return 0, 0, err
	}
	return gr.ce.sum, gr.ce.count, nil
}

// shapeQuantum rounds the batch length and the number of predicted positions up to a
// multiple, so that a run meets few distinct shapes and compiles few graphs.
const shapeQuantum = 8

// padShape left-pads every row of b to a multiple of shapeQuantum tokens (masked pads; the
// flat indices in rows move with their tokens).
func padShape(b model.Batch, rows []int) (model.Batch, []int) {
	extra := (shapeQuantum - b.T%shapeQuantum) % shapeQuantum
	if extra == 0 {
		return b, rows
	}
	t := b.T + extra
	out := model.Batch{B: b.B, T: t, IDs: make([]int32, b.B*t), Mask: make([]float32, b.B*t), Pos: make([]int32, b.B*t)}
	for r := 0; r < b.B; r++ {
		for j := 0; j < b.T; j++ {
			src, dst := r*b.T+j, r*t+extra+j
			out.IDs[dst] = b.IDs[src]
			out.Mask[dst] = 1
			if b.Mask != nil {
				out.Mask[dst] = b.Mask[src]
			}
			out.Pos[dst] = int32(j)
			if b.Pos != nil {
				out.Pos[dst] = b.Pos[src]
			}
		}
	}
	moved := make([]int, len(rows))
	for i, r := range rows {
		moved[i] = (r/b.T)*t + extra + r%b.T
	}
	return out, moved
}

func (e *Engine) graph(key shapeKey) (*graph, error) {
	key.ckpt = e.checkpointed(key)
	if gr, ok := e.graphs[key]; ok {
		return gr, nil
	}
	// Each dropout op draws its mask from its own stream of the step's seed: the masks do not
	// depend on the order the ops run in, and a recomputed layer draws the same ones.
	draw := func(p float32, stream uint64) func([]float32) {
		keep := 1 / (1 - p)
		pcg := rand.NewPCG(0, 0)
		rng := rand.New(pcg)
		return func(mask []float32) {
			pcg.Seed(e.dropSeed, stream)
			for i := range mask {
				mask[i] = 0
				if rng.Float32() >= p {
					mask[i] = keep
				}
			}
		}
	}
	gr, err := buildGraph(e.m, e.a, e.params, key, draw, e.pool)
	if err != nil {
		return nil, err
	}
	if e.MaxGraphs > 0 && len(e.order) >= e.MaxGraphs {
		e.graphs[e.order[0]].drop()
		delete(e.graphs, e.order[0])
		e.order = e.order[1:]
	}
	e.graphs[key] = gr
	e.order = append(e.order, key)
	return gr, nil
}
