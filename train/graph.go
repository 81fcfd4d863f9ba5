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
// prefixes and their length (then t is the length of the rows' own tokens).
type shapeKey struct {
	b, t, k int
	padded  bool
	g, p    int
}

// tokens is the number of token rows the graph's matrices have: the prefixes', then the rows'.
func (k shapeKey) tokens() int { return k.g*k.p + k.b*k.t }

// graph is the compiled training graph of one batch shape. The ops read the step's inputs
// (embeddings, mask, positions, selected rows, targets, loss scale) from the fields below,
// which the engine refills before each run; the LoRA matrices are graph inputs backed by the
// adapter's own slices, so optimizer updates are seen without rebinding anything.
type graph struct {
	g  *G.ExprGraph
	vm G.VM

	x0      *tensor.Dense // [N, hidden] token embeddings (N = G*P + B*T, see shapeKey)
	mask    []float32     // [N] or nil
	pos     []int32       // [N]
	rows    []int         // positions whose logits predict a label
	targets []int32       // the labels they predict
	scale   float32       // factor on the summed loss (1 / answer tokens of the accumulated batch)
	ce      *ceOp

	// With shared prefixes: each row's prefix (-1: none) and the mask of the keys each row
	// sees, [B, P+T] (its prefix's, then its own).
	group   []int
	keyMask []float32

	pool   *bufPool        // the engine's, shared by its graphs
	inputs []*tensor.Dense // input values registered in pool (unregistered when dropped)
}

// fuseLoRA makes an adapted projection without dropout one fused op (loraLinearOp) rather
// than a projection, a LoRA branch and their sum; tests turn it off to compare the two.
var fuseLoRA = true

// buildGraph constructs and compiles the graph: the frozen model with the adapter's matrices
// as the only inputs that receive gradients, which sinks add into grads. Its ops take their
// buffers from pool.
func buildGraph(m *model.Model, a *lora.Adapter, ps []*param, key shapeKey, draw func(p float32) func([]float32), pool *bufPool) (*graph, error) {
	c := &m.Config
	n := key.tokens()
	h, d := c.HiddenSize, c.HeadDim
	eps := float32(c.RMSNormEps)
	gr := &graph{g: G.NewGraph(), pos: make([]int32, n), x0: newMat(n, h), pool: pool}
	if key.padded || key.g > 0 {
		gr.mask = make([]float32, n)
	}
	if key.g > 0 {
		gr.group = make([]int, key.b)
		gr.keyMask = make([]float32, key.b*(key.p+key.t))
	}
	g := gr.g
	rope := m.Rope()
	var err error

	x := G.NewMatrix(g, G.Float32, G.WithShape(n, h), G.WithName("x0"), G.WithValue(gr.x0))
	type ab struct{ a, b *G.Node }
	inputs := map[*lora.Pair]ab{}
	var wrt G.Nodes
	gr.inputs = append(gr.inputs, gr.x0)
	for _, p := range ps {
		pr := p.pair
		va := tensor.New(tensor.WithShape(pr.Rank, pr.In), tensor.WithBacking(pr.A))
		vb := tensor.New(tensor.WithShape(pr.Out, pr.Rank), tensor.WithBacking(pr.B))
		na := G.NewMatrix(g, G.Float32, G.WithShape(pr.Rank, pr.In), G.WithName(p.name+".A"), G.WithValue(va))
		nb := G.NewMatrix(g, G.Float32, G.WithShape(pr.Out, pr.Rank), G.WithName(p.name+".B"), G.WithValue(vb))
		inputs[pr] = ab{na, nb}
		wrt = append(wrt, na, nb)
		gr.inputs = append(gr.inputs, va, vb)
	}
	// fwd lists the forward nodes in construction order (a topological order).
	var fwd G.Nodes
	apply := func(op G.Op, children ...*G.Node) (*G.Node, error) {
		nd, err := apply(op, children...)
		if err == nil {
			fwd = append(fwd, nd)
		}
		return nd, err
	}
	scale := float32(a.Config.Scale())
	dropout := float32(a.Config.Dropout)

	must := func(nd *G.Node, e error) *G.Node {
		if err == nil && e != nil {
			err = e
		}
		return nd
	}
	project := func(l int, p model.Proj, in *G.Node) *G.Node {
		w := m.Layers[l].Proj[p]
		name := fmt.Sprintf("l%d.%s", l, p)
		pr := a.Pair(l, p)
		if pr == nil || err != nil {
			return must(apply(newLinear(name, w), in))
		}
		nodes := inputs[pr]
		if dropout == 0 && fuseLoRA { // the adapter reads the projection's input: one fused op
			return must(apply(newLoRALinear(name, w, scale), in, nodes.a, nodes.b))
		}
		// Dropout: the adapter's input differs from the projection's.
		y := must(apply(newLinear(name, w), in))
		xin := in
		if dropout > 0 {
			xin = must(apply(&dropoutOp{base: newBase(name+".dropout", 1, matFn1, same(0)), p: dropout, draw: draw(dropout)}, in))
		}
		delta := must(apply(newLoRA(name+".lora", w.Rows, scale), xin, nodes.a, nodes.b))
		return must(apply(newSum(name+".sum", 2), y, delta))
	}
	shape := kern.AttnShape{B: key.b, T: key.t, Hq: c.NumHeads, Hkv: c.NumKVHeads, D: d}
	attScale := float32(1 / math.Sqrt(float64(d)))
	for l := range m.Layers {
		L := &m.Layers[l]
		name := fmt.Sprintf("l%d", l)
		hn := must(apply(newRMSNorm(name+".input_norm", L.InputNorm, h, eps), x))
		q := project(l, model.ProjQ, hn)
		k := project(l, model.ProjK, hn)
		v := project(l, model.ProjV, hn)
		if c.QKNorm {
			q = must(apply(newRMSNorm(name+".q_norm", L.QNorm, d, eps), q))
			k = must(apply(newRMSNorm(name+".k_norm", L.KNorm, d, eps), k))
		}
		q = must(apply(newRope(name+".rope_q", rope, &gr.pos, c.NumHeads), q))
		k = must(apply(newRope(name+".rope_k", rope, &gr.pos, c.NumKVHeads), k))
		var att *G.Node
		if key.g > 0 {
			att = must(apply(newSharedAttention(name+".attn", shape, key.g, key.p, gr, attScale), q, k, v))
		} else {
			att = must(apply(newAttention(name+".attn", shape, &gr.mask, attScale), q, k, v))
		}
		x = must(apply(newSum(name+".residual_attn", 2), x, project(l, model.ProjO, att)))
		hn = must(apply(newRMSNorm(name+".post_norm", L.PostNorm, h, eps), x))
		gate := project(l, model.ProjGate, hn)
		up := project(l, model.ProjUp, hn)
		act := must(apply(newSwiGLU(name+".swiglu"), gate, up))
		x = must(apply(newSum(name+".residual_mlp", 2), x, project(l, model.ProjDown, act)))
		if err != nil {
			return nil, err
		}
	}
	sel := must(apply(newSelectRows("select", &gr.rows, n, key.k), x))
	sel = must(apply(newRMSNorm("norm", m.Norm, h, eps), sel))
	logits := must(apply(newLinear("lm_head", m.LMHead), sel))
	gr.ce = newCE("loss", &gr.targets, &gr.scale)
	loss := must(apply(gr.ce, logits))
	if err != nil {
		return nil, err
	}
	// A per-graph seed: gorgonia's package-level constant 1 (G.Grad's) would keep every graph
	// ever differentiated alive through its derivOf list.
	seed := G.NewScalar(g, G.Float32, G.WithName("dloss"), G.WithValue(float32(1)))
	grads, err := backprop(fwd, loss, seed, wrt)
	if err != nil {
		return nil, fmt.Errorf("train: graph: differentiate: %w", err)
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
	gr.finish()
	gr.vm = G.NewTapeMachine(g)
	return gr, nil
}

// symDiffNeeder is implemented by ops of several differentiable inputs that can build the
// gradients of some of them only.
type symDiffNeeder interface {
	symDiffNeeded(inputs G.Nodes, out, grad *G.Node, need []bool) (G.Nodes, error)
}

// backprop adds to the graph the gradient of loss (seeded with seed) with respect to wrt,
// and returns the gradient nodes. It is gorgonia's reverse-mode walk (G.Backpropagate) with
// two differences: the several gradients of a value read by several ops are summed by one
// pooled sumOp (gorgonia chains G.Add, whose values it allocates, and whose UsePreallocDo
// would write into a register's old, possibly recycled, buffer), and only the gradients of
// inputs that lead to wrt are built (gorgonia builds them for every input of a differentiated
// op, and the tape machine then runs the useless ones). fwd lists the forward nodes in a
// topological order.
func backprop(fwd G.Nodes, loss, seed *G.Node, wrt G.Nodes) (G.Nodes, error) {
	g := loss.Graph()
	children := func(n *G.Node) G.Nodes {
		var out G.Nodes
		it := g.From(n.ID())
		for it.Next() {
			out = append(out, it.Node().(*G.Node))
		}
		return out
	}
	isWRT := map[*G.Node]bool{}
	for _, w := range wrt {
		isWRT[w] = true
	}
	kids := map[*G.Node]G.Nodes{}
	fromWRT := map[*G.Node]bool{} // depends on a wrt node
	for _, n := range fwd {
		kids[n] = children(n)
		for _, c := range kids[n] {
			if isWRT[c] || fromWRT[c] {
				fromWRT[n] = true
			}
		}
	}
	toLoss := map[*G.Node]bool{loss: true} // the loss depends on it differentiably
	for i := len(fwd) - 1; i >= 0; i-- {
		n := fwd[i]
		if !toLoss[n] {
			continue
		}
		diff := n.Op().(G.SDOp).DiffWRT(len(kids[n]))
		for j, c := range kids[n] {
			if diff[j] {
				toLoss[c] = true
			}
		}
	}
	active := func(n *G.Node) bool { return toLoss[n] && (isWRT[n] || fromWRT[n]) }

	grads := map[*G.Node]G.Nodes{loss: {seed}}
	reduce := func(n *G.Node) (*G.Node, error) {
		gs := grads[n]
		switch len(gs) {
		case 0:
			return nil, fmt.Errorf("no gradient reaches %v", n)
		case 1:
			return gs[0], nil
		}
		return apply(newSum(n.Name()+".grad", len(gs)), gs...)
	}
	for i := len(fwd) - 1; i >= 0; i-- {
		n := fwd[i]
		if !active(n) {
			continue
		}
		dn, err := reduce(n)
		if err != nil {
			return nil, err
		}
		op := n.Op().(G.SDOp)
		in := kids[n]
		diff := op.DiffWRT(len(in))
		need := make([]bool, len(in))
		for j, c := range in {
			need[j] = diff[j] && active(c)
		}
		var dIn G.Nodes
		if sn, ok := op.(symDiffNeeder); ok {
			dIn, err = sn.symDiffNeeded(in, n, dn, need)
		} else {
			dIn, err = op.SymDiff(in, n, dn)
		}
		if err != nil {
			return nil, fmt.Errorf("%v: %w", n, err)
		}
		for j, c := range in {
			if need[j] {
				grads[c] = append(grads[c], dIn[j])
			}
		}
	}
	out := make(G.Nodes, len(wrt))
	for i, w := range wrt {
		var err error
		if out[i], err = reduce(w); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// finish hands every op the pool and the number of ops reading its value, and registers the
// graph's inputs with the pool.
func (gr *graph) finish() {
	uses := map[*G.Node]int{}
	for _, n := range gr.g.AllNodes() {
		var seen G.Nodes
		it := gr.g.From(n.ID())
		for it.Next() {
			c := it.Node().(*G.Node)
			if !slices.Contains(seen, c) {
				seen = append(seen, c)
				uses[c]++
			}
		}
	}
	for _, n := range gr.g.AllNodes() {
		switch op := n.Op().(type) {
		case *loraGradOp:
			if op.what != 'B' {
				op.st.uUses++
			}
		case *attnGradOp:
			op.st.grads().gradUses[op.which] = uses[n]
		case *swigluGradOp:
			op.st.gradUses[op.which] = uses[n]
		case *dropoutGradOp:
			op.f.hasGrad = true
		}
		if op, ok := n.Op().(pooled); ok {
			op.setPool(gr.pool, uses[n])
		}
	}
	for _, t := range gr.inputs {
		gr.pool.register(t)
	}
}

// release drops the values of the last run: the buffers still held go back to the pool
// (after a complete run, none: each was recycled when its last reader had run).
func (gr *graph) release() {
	gr.g.UnbindAllNonInputs()
	for _, n := range gr.g.AllNodes() {
		switch op := n.Op().(type) {
		case *loraOp:
			op.st.t, op.st.u = nil, nil
		case *loraLinearOp:
			op.st.t, op.st.u = nil, nil
		case *attnOp:
			op.st.probs, op.st.dq, op.st.dk, op.st.dv = nil, nil, nil, nil
		case *sharedAttnOp:
			op.st.probsP, op.st.probsS, op.st.dq, op.st.dk, op.st.dv = nil, nil, nil, nil, nil
		case *swigluOp:
			op.st.dg, op.st.du = nil, nil
		case *dropoutOp:
			op.mask = nil
		}
	}
	gr.pool.releaseAll()
}

// drop unregisters the graph's inputs from the pool (the graph is no longer cached).
func (gr *graph) drop() { gr.pool.unregister(gr.inputs...) }

// run executes the graph once. Gradients are added into the params' buffers by the sinks.
// Afterwards every value of the step is released (the nodes' values and the ops' saved
// activations), so an idle compiled graph holds only its structure.
func (gr *graph) run() (err error) {
	defer func() { // gorgonia panics on some internal errors; keep them inside valora
		if r := recover(); r != nil {
			err = fmt.Errorf("train: graph execution failed: %v", r)
		}
	}()
	gr.pool.begin()
	defer gr.release()
	defer gr.vm.Reset()
	if err := gr.vm.RunAll(); err != nil {
		return fmt.Errorf("train: graph execution failed: %w", err)
	}
	return nil
}
