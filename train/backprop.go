package train

// Reverse-mode differentiation of a training graph (backprop), and the interfaces through
// which it talks to the forward ops.

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// noBackwarder is implemented by forward ops that keep state for their backward ops: told
// that none will run (the checkpointed forward pass, layers below the trained ones), they
// keep nothing.
type noBackwarder interface{ noBackward() }

// symDiffNeeder is implemented by ops of several differentiable inputs that can build the
// gradients of some of them only.
type symDiffNeeder interface {
	symDiffNeeded(inputs G.Nodes, out, grad *G.Node, need []bool) (G.Nodes, error)
}

// backprop adds to the graph the gradient of loss (seeded with seed) with respect to wrt,
// and returns the gradient nodes and the forward nodes it differentiated. It is gorgonia's
// reverse-mode walk (G.Backpropagate) with two differences: the several gradients of a value
// read by several ops are summed by one pooled sumOp (gorgonia chains G.Add, whose values it
// allocates, and whose UsePreallocDo would write into a register's old, possibly recycled,
// buffer), and only the gradients of inputs that lead to wrt are built (gorgonia builds them
// for every input of a differentiated op, and the tape machine then runs the useless ones).
// fwd lists the forward nodes in a topological order; wrt may hold forward nodes (the
// gradient of an intermediate value), whose own inputs are then not differentiated.
func backprop(fwd G.Nodes, loss, seed *G.Node, wrt G.Nodes) (G.Nodes, map[*G.Node]bool, error) {
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
	diffed := map[*G.Node]bool{}
	for i := len(fwd) - 1; i >= 0; i-- {
		n := fwd[i]
		if !active(n) || !fromWRT[n] { // a wrt node's own inputs need no gradient
			continue
		}
		dn, err := reduce(n)
		if err != nil {
			return nil, nil, err
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
			return nil, nil, fmt.Errorf("%v: %w", n, err)
		}
		diffed[n] = true
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
			return nil, nil, err
		}
	}
	return out, diffed, nil
}
