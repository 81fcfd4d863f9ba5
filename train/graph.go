package train

import (
	"fmt"
	"math"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/valora-go/valora/internal/kern"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// shapeKey identifies a compiled graph: batch rows, tokens per row, counted positions, and
// whether the batch is padded; for a batch that shares prefixes (g > 0), the number of
// prefixes and their length (then t is the length of the rows' own tokens); and whether the
// step recomputes each layer's activations in the backward pass (ckpt, see buildGraph).
type shapeKey struct {
	b, t, k int
	padded  bool
	g, p    int
	ckpt    bool
}

// tokens is the number of token rows the graph's matrices have: the prefixes', then the rows'.
func (k shapeKey) tokens() int { return k.g*k.p + k.b*k.t }

// stepInputs are the per-step inputs of a compiled graph, which the engine refills before
// each run (setInputs). The graph owns them; the ops that read one (rope: pos, attention:
// mask, group and keyMask, row selection: rows, the loss: targets and scale) hold the graph's
// stepInputs and read it when they run.
type stepInputs struct {
	x0      *tensor.Dense // [N, hidden] token embeddings (N = G*P + B*T, see shapeKey)
	mask    []float32     // [N] or nil
	pos     []int32       // [N]
	rows    []int         // positions whose logits predict a label
	targets []int32       // the labels they predict
	scale   float32       // factor on the summed loss (1 / answer tokens of the accumulated batch)

	// With shared prefixes: each row's prefix (-1: none) and the mask of the keys each row
	// sees, [B, P+T] (its prefix's, then its own).
	group   []int
	keyMask []float32
}

// graph is the compiled training step of one batch shape. The ops read the step's inputs
// from in; the LoRA matrices are graph inputs backed by the adapter's own slices, so
// optimizer updates are seen without rebinding anything.
//
// Without checkpointing the step is one gorgonia graph (whole): the forward pass, whose ops
// keep what their backward ops read, then the backward pass. With checkpointing it is a
// forward graph (front: every layer without keeping its activations, only its input, then the
// head and its backward down to the last layer's output) and one graph per trained layer
// (segs: the layer's forward pass recomputed from its kept input, then its backward from the
// gradient of its output), run from the top layer down. Both run the same ops on the same
// values in the same order within a layer, so their losses and gradients are identical.
type graph struct {
	in *stepInputs
	ce *ceOp // the loss: its sum and count after a run

	pool *bufPool // the engine's, shared by its graphs

	whole *part     // without checkpointing
	front *part     // with checkpointing: the forward pass and the head's backward
	segs  []*part   // with checkpointing: the trained layers lo.. (index l-lo), each recomputed
	keeps []*keepOp // the front's kept layer inputs (index l-lo)
	dxTop *grabOp   // the front's gradient of the last layer's output
}

// part is one compiled gorgonia graph of a step.
type part struct {
	g      *G.ExprGraph
	vm     G.VM
	inputs []*tensor.Dense // input values registered in the pool (unregistered when dropped)
	// A checkpointed layer: its input and the gradient of its output (bound before each run,
	// read by xinUses and dyUses ops), and the op that holds the gradient of its input for the
	// layer below (nil for the lowest trained layer).
	layer           int
	xin, dy         *G.Node
	xinUses, dyUses int
	dx              *grabOp
}

// fuseLoRA makes an adapted projection without dropout one fused op (loraLinearOp) rather
// than a projection, a LoRA branch and their sum; tests turn it off to compare the two.
var fuseLoRA = true

// drawFn returns the dropout mask filler of one dropout op: rate p, stream its index in the
// model (every step draws each op's mask from the op's own stream of the step's seed, so a
// recomputed layer draws the same masks).
type drawFn func(p float32, stream uint64) func([]float32)

// buildGraph constructs and compiles the step of shape key: the frozen model with the
// adapter's matrices as the only inputs that receive gradients, which sinks add into the
// params' gradient buffers. Its ops take their buffers from pool.
func buildGraph(m *model.Model, a *lora.Adapter, ps []*param, key shapeKey, draw drawFn, pool *bufPool) (*graph, error) {
	c := &m.Config
	n := key.tokens()
	in := &stepInputs{pos: make([]int32, n), x0: newMat(n, c.HiddenSize)}
	if key.padded || key.g > 0 {
		in.mask = make([]float32, n)
	}
	if key.g > 0 {
		in.group = make([]int, key.b)
		in.keyMask = make([]float32, key.b*(key.p+key.t))
	}
	gr := &graph{in: in, pool: pool, ce: newCE("loss", in)}
	var err error
	if key.ckpt {
		err = gr.buildCheckpointed(m, a, ps, key, draw)
	} else {
		gr.whole, err = gr.buildWhole(m, a, ps, key, draw)
	}
	if err != nil {
		gr.drop()
		return nil, err
	}
	return gr, nil
}

// buildWhole builds the step as one graph.
func (gr *graph) buildWhole(m *model.Model, a *lora.Adapter, ps []*param, key shapeKey, draw drawFn) (*part, error) {
	b := newBuilder(m, a, key, gr, draw)
	b.trimLast = trimsLast(a.Config.Dropout > 0, key.ckpt)
	x := b.input("x0", gr.in.x0)
	wrt := b.loraInputs(ps)
	for l := range m.Layers {
		x = b.layer(l, x)
	}
	loss := b.head(x)
	seed := b.scalarSeed()
	if b.err != nil {
		return nil, b.err
	}
	if _, err := b.differentiate(loss, seed, wrt, ps); err != nil {
		return nil, err
	}
	p, _ := b.compile()
	return p, nil
}

// buildCheckpointed builds the front graph and one graph per trained layer.
func (gr *graph) buildCheckpointed(m *model.Model, a *lora.Adapter, ps []*param, key shapeKey, draw drawFn) error {
	lo := len(m.Layers) // the lowest layer with an adapter matrix: nothing below it is trained
	for _, p := range ps {
		lo = min(lo, p.layer)
	}
	if lo == len(m.Layers) {
		return fmt.Errorf("train: graph: the adapter has no matrices to train")
	}
	// The front: every layer's forward pass (its ops keep nothing for a backward pass that
	// does not run here), the trained layers' inputs kept, then the head with its backward.
	b := newBuilder(m, a, key, gr, draw)
	x := b.input("x0", gr.in.x0)
	b.loraInputs(ps)
	for l := range m.Layers {
		if l >= lo {
			k := &keepOp{base: newBase(fmt.Sprintf("l%d.keep", l), 1, matFn1, same(0))}
			x = b.apply(k, x)
			gr.keeps = append(gr.keeps, k)
		}
		x = b.layer(l, x)
	}
	loss := b.head(x)
	seed := b.scalarSeed()
	if b.err != nil {
		return b.err
	}
	grads, err := b.differentiate(loss, seed, G.Nodes{x}, nil)
	if err != nil {
		return err
	}
	gr.dxTop = b.grab("dx_top", grads[0])
	if b.err != nil {
		return b.err
	}
	gr.front, _ = b.compile()

	// One graph per trained layer: its forward pass from its input, its backward from the
	// gradient of its output, down to its matrices and (above lo) its input.
	h := m.Config.HiddenSize
	n := key.tokens()
	for l := lo; l < len(m.Layers); l++ {
		var lps []*param
		for _, p := range ps {
			if p.layer == l {
				lps = append(lps, p)
			}
		}
		b := newBuilder(m, a, key, gr, draw)
		xin := b.placeholder(fmt.Sprintf("l%d.x", l), n, h)
		dy := b.placeholder(fmt.Sprintf("l%d.dy", l), n, h)
		wrt := b.loraInputs(lps)
		out := b.layer(l, xin)
		if b.err != nil {
			return b.err
		}
		if l > lo {
			wrt = append(wrt, xin)
		}
		grads, err := b.differentiate(out, dy, wrt, lps)
		if err != nil {
			return err
		}
		var dx *grabOp
		if l > lo {
			dx = b.grab(fmt.Sprintf("l%d.dx", l), grads[len(grads)-1])
		}
		if b.err != nil {
			return b.err
		}
		p, uses := b.compile()
		p.layer, p.xin, p.dy, p.xinUses, p.dyUses, p.dx = l, xin, dy, uses[xin], uses[dy], dx
		gr.segs = append(gr.segs, p)
	}
	return nil
}

// trimsLast reports whether a step runs the last layer after its attention on the label rows
// only: the loss reads nothing else, so its o projection, norm and MLP take k rows instead of
// every token (3% of a Qwen3-0.6B step). Not with dropout (its masks are drawn per token of
// the whole batch) nor with checkpointing (the per-layer graphs pass whole [tokens, hidden]
// gradients).
func trimsLast(dropout, ckpt bool) bool { return !dropout && !ckpt }

// builder adds the ops of a step to one gorgonia graph.
type builder struct {
	m     *model.Model
	a     *lora.Adapter
	key   shapeKey
	gr    *graph
	draw  drawFn
	g     *G.ExprGraph
	fwd   G.Nodes // the forward nodes in construction order (a topological order)
	pairs map[*lora.Pair][2]*G.Node
	vals  []*tensor.Dense // input values to register with the pool
	// trimLast runs the last layer after its attention on the label rows only (trimsLast):
	// its output holds those rows, which the head then takes as they are.
	trimLast bool
	err      error
}

func newBuilder(m *model.Model, a *lora.Adapter, key shapeKey, gr *graph, draw drawFn) *builder {
	return &builder{m: m, a: a, key: key, gr: gr, draw: draw, g: G.NewGraph(), pairs: map[*lora.Pair][2]*G.Node{}}
}

// apply adds a forward op over children; after an error it does nothing.
func (b *builder) apply(op G.Op, children ...*G.Node) *G.Node {
	if b.err != nil {
		return nil
	}
	nd, err := apply(op, children...)
	if err != nil {
		b.err = err
		return nil
	}
	b.fwd = append(b.fwd, nd)
	return nd
}

// input adds a matrix input with value v (registered with the pool).
func (b *builder) input(name string, v *tensor.Dense) *G.Node {
	s := v.Shape()
	b.vals = append(b.vals, v)
	return G.NewMatrix(b.g, G.Float32, G.WithShape(s[0], s[1]), G.WithName(name), G.WithValue(v))
}

// placeholder adds a [rows, cols] matrix input whose value is bound before each run.
func (b *builder) placeholder(name string, rows, cols int) *G.Node {
	return G.NewMatrix(b.g, G.Float32, G.WithShape(rows, cols), G.WithName(name))
}

// scalarSeed is the gradient of the loss with respect to itself. A per-graph seed: gorgonia's
// package-level constant 1 (G.Grad's) would keep every graph ever differentiated alive through
// its derivOf list.
func (b *builder) scalarSeed() *G.Node {
	return G.NewScalar(b.g, G.Float32, G.WithName("dloss"), G.WithValue(float32(1)))
}

// loraInputs adds the matrices of ps as inputs backed by the adapter's slices, and returns
// their nodes (A, B of each param in order).
func (b *builder) loraInputs(ps []*param) G.Nodes {
	var out G.Nodes
	for _, p := range ps {
		pr := p.pair
		va := tensor.New(tensor.WithShape(pr.Rank, pr.In), tensor.WithBacking(pr.A))
		vb := tensor.New(tensor.WithShape(pr.Out, pr.Rank), tensor.WithBacking(pr.B))
		na, nb := b.input(p.name+".A", va), b.input(p.name+".B", vb)
		b.pairs[pr] = [2]*G.Node{na, nb}
		out = append(out, na, nb)
	}
	return out
}

// project is projection p of layer l over in, with its adapter when it has one (whose
// matrices must have been added by loraInputs).
func (b *builder) project(l int, p model.Proj, in *G.Node) *G.Node {
	w := b.m.Layers[l].Proj[p]
	name := fmt.Sprintf("l%d.%s", l, p)
	pr := b.a.Pair(l, p)
	nodes, ok := b.pairs[pr]
	if pr == nil || !ok {
		return b.apply(newLinear(name, w), in)
	}
	scale := float32(b.a.Config.Scale())
	dropout := float32(b.a.Config.Dropout)
	if dropout == 0 && fuseLoRA { // the adapter reads the projection's input: one fused op
		return b.apply(newLoRALinear(name, w, scale), in, nodes[0], nodes[1])
	}
	// Dropout: the adapter's input differs from the projection's.
	y := b.apply(newLinear(name, w), in)
	xin := in
	if dropout > 0 {
		stream := uint64(l)*uint64(model.NumProj) + uint64(p)
		xin = b.apply(&dropoutOp{base: newBase(name+".dropout", 1, matFn1, same(0)), p: dropout, draw: b.draw(dropout, stream)}, in)
	}
	delta := b.apply(newLoRA(name+".lora", w.Rows, scale), xin, nodes[0], nodes[1])
	return b.apply(newSum(name+".sum", 2), y, delta)
}

// layer adds decoder layer l over the residual stream x (the operations of the model's
// Config.LayerOps, the list its inference pass runs) and returns its output.
func (b *builder) layer(l int, x *G.Node) *G.Node {
	c := &b.m.Config
	key := b.key
	eps := float32(c.RMSNormEps)
	gr := b.gr
	L := &b.m.Layers[l]
	name := fmt.Sprintf("l%d", l)

	var val [model.NumSlots]*G.Node // the layer's values, by slot
	val[model.SlotX] = x
	for _, op := range c.LayerOps() {
		switch op.Kind {
		case model.OpNorm:
			w := L.Norm(op.Norm)
			val[op.Out] = b.apply(newRMSNorm(name+"."+op.Norm.String(), w, len(w), eps), val[op.In])
		case model.OpProject:
			y := b.project(l, op.Proj, val[op.In])
			if op.Residual {
				y = b.apply(newSum(name+".residual_"+op.Proj.String(), 2), val[op.Out], y)
			}
			val[op.Out] = y
		case model.OpRope:
			heads := c.SlotWidth(op.In) / c.HeadDim
			val[op.In] = b.apply(newRope(name+".rope_"+op.In.String(), b.m.Rope(), gr.in, heads), val[op.In])
		case model.OpAttention:
			shape := kern.AttnShape{B: key.b, T: key.t, Hq: c.NumHeads, Hkv: c.NumKVHeads, D: c.HeadDim}
			scale := float32(1 / math.Sqrt(float64(c.HeadDim)))
			q, k, v := val[model.SlotQ], val[model.SlotK], val[model.SlotV]
			if key.g > 0 {
				val[model.SlotAttn] = b.apply(newSharedAttention(name+".attn", shape, key.g, key.p, gr.in, scale), q, k, v)
			} else {
				val[model.SlotAttn] = b.apply(newAttention(name+".attn", shape, gr.in, scale), q, k, v)
			}
			if b.trimLast && l == len(b.m.Layers)-1 {
				val[model.SlotAttn] = b.apply(newSelectRows(name+".select_attn", gr.in, key.tokens(), key.k), val[model.SlotAttn])
				val[model.SlotX] = b.apply(newSelectRows(name+".select", gr.in, key.tokens(), key.k), val[model.SlotX])
			}
		case model.OpSwiGLU:
			val[model.SlotGate] = b.apply(newSwiGLU(name+".swiglu"), val[model.SlotGate], val[model.SlotUp])
		default:
			if b.err == nil {
				b.err = fmt.Errorf("train: graph: layer %d: operation %v has no training op", l, op)
			}
		}
	}
	return val[model.SlotX]
}

// head adds the final norm and LM head on the rows that predict a label (selected here unless
// the last layer already did), and the loss.
func (b *builder) head(x *G.Node) *G.Node {
	c := &b.m.Config
	sel := x
	if !b.trimLast {
		sel = b.apply(newSelectRows("select", b.gr.in, b.key.tokens(), b.key.k), x)
	}
	sel = b.apply(newRMSNorm("norm", b.m.Norm, c.HiddenSize, float32(c.RMSNormEps)), sel)
	logits := b.apply(newLinear("lm_head", b.m.LMHead), sel)
	return b.apply(b.gr.ce, logits)
}

// differentiate adds the backward pass of out (its gradient given by seed) to wrt, and a
// sink per matrix of ps (the first 2·len(ps) of wrt, A then B of each) that adds its gradient
// into the param's buffer. The forward ops that get no backward op are told so (they then
// keep nothing). It returns the gradient nodes of wrt.
func (b *builder) differentiate(out, seed *G.Node, wrt G.Nodes, ps []*param) (G.Nodes, error) {
	grads, diffed, err := backprop(b.fwd, out, seed, wrt)
	if err != nil {
		return nil, fmt.Errorf("train: graph: differentiate: %w", err)
	}
	for _, n := range b.fwd {
		if op, ok := n.Op().(noBackwarder); ok && !diffed[n] {
			op.noBackward()
		}
	}
	sink := func(name string, grad *G.Node, dst []float32) error {
		s := newSink(name, dst)
		if op, ok := grad.Op().(*loraGradOp); ok && len(dst) == grad.Shape().TotalSize() {
			op.into, s.direct = dst, true // the product adds into dst itself
		}
		_, err := apply(s, grad)
		return err
	}
	for i, p := range ps {
		if err := sink(p.name+".dA", grads[2*i], p.gradA); err != nil {
			return nil, err
		}
		if err := sink(p.name+".dB", grads[2*i+1], p.gradB); err != nil {
			return nil, err
		}
	}
	return grads, nil
}

// grab adds an op that holds grad's value past the run (checkpointing's gradient between
// graphs).
func (b *builder) grab(name string, grad *G.Node) *grabOp {
	o := &grabOp{base: newBase(name, 1, toScalar, func([]tensor.Shape) tensor.Shape { return tensor.ScalarShape() })}
	if _, err := apply(o, grad); err != nil && b.err == nil {
		b.err = err
	}
	return o
}

// compile hands every op the pool and the number of ops reading its value, registers the
// graph's inputs with the pool and compiles the graph. It returns the part and the readers
// of every node's value.
func (b *builder) compile() (*part, map[*G.Node]int) {
	g := b.g
	uses := map[*G.Node]int{}
	for _, n := range g.AllNodes() {
		var seen G.Nodes
		it := g.From(n.ID())
		for it.Next() {
			c := it.Node().(*G.Node)
			if !slices.Contains(seen, c) {
				seen = append(seen, c)
				uses[c]++
			}
		}
	}
	pool := b.gr.pool
	for _, n := range g.AllNodes() {
		if op, ok := n.Op().(usesCounter); ok {
			op.countUses(uses[n])
		}
		if op, ok := n.Op().(pooled); ok {
			op.setPool(pool, uses[n])
		}
	}
	for _, t := range b.vals {
		pool.register(t)
	}
	return &part{g: g, vm: G.NewTapeMachine(g), inputs: b.vals}, uses
}

// release drops the values of the part's last run and the state its ops saved (their
// buffers go back to the pool with releaseAll, or earlier as their readers consume them).
func (p *part) release() {
	unbindValues(p.g)
	for _, n := range p.g.AllNodes() {
		if op, ok := n.Op().(saver); ok {
			op.release()
		}
	}
}

// usesCounter is implemented by the backward ops that share state with their forward op or
// their sibling backward ops: compile tells each how many ops read its value.
type usesCounter interface{ countUses(uses int) }

// saver is implemented by the forward ops that save state in a run for their backward ops
// (activations, probabilities, masks, shared gradients): release drops it after the run.
type saver interface{ release() }

// exec runs the part once, then releases its values.
func (p *part) exec() error {
	defer p.release()
	defer p.vm.Reset()
	if err := p.vm.RunAll(); err != nil {
		return fmt.Errorf("train: graph execution failed: %w", err)
	}
	return nil
}

// drop unregisters the graph's inputs from the pool (the graph is no longer cached).
func (gr *graph) drop() {
	for _, p := range gr.parts() {
		gr.pool.unregister(p.inputs...)
	}
}

// parts lists the compiled graphs of the step.
func (gr *graph) parts() []*part {
	var out []*part
	for _, p := range append([]*part{gr.whole, gr.front}, gr.segs...) {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// run executes the step once. Gradients are added into the params' buffers by the sinks.
// Afterwards every value of the step is released (the nodes' values and the ops' saved
// activations), so an idle compiled graph holds only its structure.
func (gr *graph) run() (err error) {
	defer func() { // gorgonia panics on some internal errors; keep them inside valora
		if r := recover(); r != nil {
			err = fmt.Errorf("train: graph execution failed: %v", r)
		}
	}()
	gr.pool.begin()
	defer gr.pool.releaseAll()
	if gr.whole != nil {
		return gr.whole.exec()
	}
	defer func() {
		for _, k := range gr.keeps {
			k.val = nil
		}
		gr.dxTop.val = nil
		for _, s := range gr.segs {
			if s.dx != nil {
				s.dx.val = nil
			}
		}
	}()
	if err := gr.front.exec(); err != nil {
		return err
	}
	dy := gr.dxTop.val
	for i := len(gr.segs) - 1; i >= 0; i-- {
		s := gr.segs[i]
		x := gr.keeps[i].val
		if x == nil || dy == nil {
			return fmt.Errorf("train: graph execution failed: layer %d's input or output gradient is missing", s.layer)
		}
		gr.pool.hold(x, s.xinUses)
		gr.pool.hold(dy, s.dyUses)
		if err := G.Let(s.xin, x); err != nil {
			return fmt.Errorf("train: graph: bind layer input: %w", err)
		}
		if err := G.Let(s.dy, dy); err != nil {
			return fmt.Errorf("train: graph: bind layer gradient: %w", err)
		}
		gr.keeps[i].val = nil
		if err := s.exec(); err != nil {
			return err
		}
		dy = nil
		if s.dx != nil {
			dy = s.dx.val
			s.dx.val = nil
		}
	}
	return nil
}
