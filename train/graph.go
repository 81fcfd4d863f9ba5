package train

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/valora-go/valora/internal/kern"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// shapeKey identifies a compiled graph: batch rows, tokens per row, counted positions, and
// whether the batch is padded.
type shapeKey struct {
	b, t, k int
	padded  bool
}

// graph is the compiled training graph of one batch shape. The ops read the step's inputs
// (embeddings, mask, positions, selected rows, targets, loss scale) from the fields below,
// which the engine refills before each run; the LoRA matrices are graph inputs backed by the
// adapter's own slices, so optimizer updates are seen without rebinding anything.
type graph struct {
	g  *G.ExprGraph
	vm G.VM

	x0      *tensor.Dense // [B*T, hidden] token embeddings
	mask    []float32     // [B*T] or nil
	pos     []int32       // [B*T]
	rows    []int         // positions whose logits predict a label
	targets []int32       // the labels they predict
	scale   float32       // factor on the summed loss (1 / answer tokens of the accumulated batch)
	ce      *ceOp
}

// buildGraph constructs and compiles the graph: the frozen model with the adapter's matrices
// as the only inputs that receive gradients, which sinks add into grads.
func buildGraph(m *model.Model, a *lora.Adapter, ps []*param, key shapeKey, draw func(p float32) func(int) []float32) (*graph, error) {
	c := &m.Config
	n := key.b * key.t
	h, d := c.HiddenSize, c.HeadDim
	eps := float32(c.RMSNormEps)
	gr := &graph{g: G.NewGraph(), pos: make([]int32, n), x0: newMat(n, h)}
	if key.padded {
		gr.mask = make([]float32, n)
	}
	g := gr.g
	rope := m.Rope()
	var err error

	x := G.NewMatrix(g, G.Float32, G.WithShape(n, h), G.WithName("x0"), G.WithValue(gr.x0))
	type ab struct{ a, b *G.Node }
	inputs := map[*lora.Pair]ab{}
	var wrt G.Nodes
	for _, p := range ps {
		pr := p.pair
		na := G.NewMatrix(g, G.Float32, G.WithShape(pr.Rank, pr.In), G.WithName(p.name+".A"),
			G.WithValue(tensor.New(tensor.WithShape(pr.Rank, pr.In), tensor.WithBacking(pr.A))))
		nb := G.NewMatrix(g, G.Float32, G.WithShape(pr.Out, pr.Rank), G.WithName(p.name+".B"),
			G.WithValue(tensor.New(tensor.WithShape(pr.Out, pr.Rank), tensor.WithBacking(pr.B))))
		inputs[pr] = ab{na, nb}
		wrt = append(wrt, na, nb)
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
		y := must(apply(newLinear(name, w), in))
		pr := a.Pair(l, p)
		if pr == nil || err != nil {
			return y
		}
		xin := in
		if dropout > 0 {
			xin = must(apply(&dropoutOp{base{name + ".dropout", 1, matFn1, same(0)}, dropout, nil, draw(dropout)}, in))
		}
		nodes := inputs[pr]
		delta := must(apply(newLoRA(name+".lora", w.Rows, scale), xin, nodes.a, nodes.b))
		return must(G.Add(y, delta))
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
		att := must(apply(newAttention(name+".attn", shape, &gr.mask, attScale), q, k, v))
		x = must(G.Add(x, project(l, model.ProjO, att)))
		hn = must(apply(newRMSNorm(name+".post_norm", L.PostNorm, h, eps), x))
		gate := project(l, model.ProjGate, hn)
		up := project(l, model.ProjUp, hn)
		act := must(apply(newSwiGLU(name+".swiglu"), gate, up))
		x = must(G.Add(x, project(l, model.ProjDown, act)))
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
	// G.Grad would seed the backward pass with gorgonia's package-level constant 1, whose
	// derivOf list then keeps every graph ever differentiated alive (a leak of a whole step's
	// activations per compiled batch shape). A per-graph seed avoids it.
	seed := G.NewScalar(g, G.Float32, G.WithName("dloss"), G.WithValue(float32(1)))
	grads, err := G.Backpropagate(G.Nodes{loss}, G.Nodes{seed}, wrt)
	if err != nil {
		return nil, fmt.Errorf("train: graph: differentiate: %w", err)
	}
	for i, p := range ps {
		if _, err := apply(newSink(p.name+".dA", p.gradA), grads[2*i]); err != nil {
			return nil, err
		}
		if _, err := apply(newSink(p.name+".dB", p.gradB), grads[2*i+1]); err != nil {
			return nil, err
		}
	}
	gr.vm = G.NewTapeMachine(g)
	return gr, nil
}

// release drops the values of the last run.
func (gr *graph) release() {
	gr.g.UnbindAllNonInputs()
	for _, n := range gr.g.AllNodes() {
		switch op := n.Op().(type) {
		case *loraOp:
			op.st.t, op.st.u = nil, nil
		case *attnOp:
			op.st.probs, op.st.dq, op.st.dk, op.st.dv = nil, nil, nil, nil
		case *swigluOp:
			op.st.dg, op.st.du = nil, nil
		case *dropoutOp:
			op.mask = nil
		}
	}
}

// run executes the graph once. Gradients are added into the params' buffers by the sinks.
// Afterwards every value of the step is released (the nodes' values and the ops' saved
// activations), so an idle compiled graph holds only its structure.
func (gr *graph) run() (err error) {
	defer func() { // gorgonia panics on some internal errors; keep them inside valora
		if r := recover(); r != nil {
			err = fmt.Errorf("train: graph execution failed: %v", r)
		}
	}()
	defer gr.release()
	defer gr.vm.Reset()
	if err := gr.vm.RunAll(); err != nil {
		return fmt.Errorf("train: graph execution failed: %w", err)
	}
	return nil
}
