package train

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// unbindValues drops the values the last run bound to g's non-input nodes, so that an idle
// graph holds none, without handing any of them to gorgonia/tensor's struct pool.
//
// gorgonia's ExprGraph.UnbindAllNonInputs passes every unbound tensor to tensor.ReturnTensor,
// which (while the package's pool is on, its default) zeroes the *tensor.Dense in place and
// queues it for the next tensor.New. The values here are the engine's buffer-pool headers
// (pool.go), kept and reused across steps, and the ops' saved state still refers to them; a
// returned header would be wiped and handed out again. Turning the pool off (tensor.DontUsePool)
// would change the setting for the whole process, so each node is first rebound to a hole: a
// value of the node's shape and type that holds no memory and is not a tensor.Tensor, which
// UnbindAllNonInputs drops without returning anything. (The tape machine binds plain values:
// no BindDualValues, whose dual values' derivatives would still be returned.) Should a node
// refuse its hole (it cannot: the hole is made from the node's own shape and type), every
// value stays bound until the next run rebinds them, rather than one of them going to
// tensor's pool.
func unbindValues(g *G.ExprGraph) {
	for _, n := range g.AllNodes() {
		if n.Op() == nil { // an input: its value stays bound
			continue
		}
		if _, ok := n.Value().(tensor.Tensor); !ok {
			continue // scalars, or nothing bound: UnbindAllNonInputs returns nothing for them
		}
		if err := G.UnsafeLet(n, &hole{shape: n.Shape(), dt: n.Dtype()}); err != nil {
			return
		}
	}
	g.UnbindAllNonInputs()
}

// hole stands in for a node's value between runs: it has the node's shape and type but no
// data, and it is not a tensor.Tensor, so gorgonia drops it without touching tensor's pool.
type hole struct {
	shape tensor.Shape
	dt    tensor.Dtype
}

func (h *hole) Shape() tensor.Shape { return h.shape }
func (h *hole) Size() int           { return h.shape.TotalSize() }
func (h *hole) Data() any           { return nil }
func (h *hole) Dtype() tensor.Dtype { return h.dt }
func (h *hole) Uintptr() uintptr    { return 0 }
func (h *hole) MemSize() uintptr    { return 0 }
func (h *hole) Format(s fmt.State, c rune) {
	fmt.Fprintf(s, "hole%v", h.shape)
}
