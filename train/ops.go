package train

// Custom gorgonia operations for the training graph. Every forward op calls the same kernel
// (package internal/kern) as the inference pass; every backward op is hand-written against a
// kernel checked by finite differences in that package. Frozen weights are referenced from the
// op, never copied into the graph; only the LoRA matrices are graph inputs.
//
// All values are float32 matrices [rows, cols] (*tensor.Dense), except the loss and the
// sinks, which are float32 scalars. Ops take their outputs and scratch from the engine's
// buffer pool (pool.go) in Do, and report the values they have read (done), so that a value's
// buffer is recycled as soon as its last consumer has run and a step of a shape seen before
// allocates nothing. No op implements UsePreallocDo or overwrites an input, so the tape
// machine never writes into a register's old value (which may already be recycled).
//
// This file holds what every op shares (base, the op types, apply, and gradOp, the backward
// op of an op with one differentiable input); each op lives in its own file op_<name>.go with
// its backward, and the ops whose backward computes all their inputs' gradients at once share
// the plumbing of op_joint.go. Forward ops that save state for their backward ops implement
// noBackwarder and saver (graph.go).

import (
	"fmt"
	"hash"
	"hash/fnv"
	"slices"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/valora-go/valora/internal/kern"
)

// opType says what an op's gorgonia type is built from: float32 matrices in, a matrix or a
// scalar out, optionally a scalar as the last input. Types are built afresh on every call
// because gorgonia recycles the function types it is given.
type opType struct {
	mats         int  // matrix inputs
	scalarIn     bool // one more, scalar, input
	scalarResult bool
}

var (
	matFn1         = opType{mats: 1}
	matFn2         = opType{mats: 2}
	matFn3         = opType{mats: 3}
	toScalar       = opType{mats: 1, scalarResult: true}
	matScalarToMat = opType{mats: 1, scalarIn: true}
)

func (t opType) build() hm.Type {
	a := hm.TypeVariable('a')
	var ts []hm.Type
	for range t.mats {
		ts = append(ts, &G.TensorType{Dims: 2, Of: a})
	}
	if t.scalarIn {
		ts = append(ts, a)
	}
	if t.scalarResult {
		ts = append(ts, a)
	} else {
		ts = append(ts, &G.TensorType{Dims: 2, Of: a})
	}
	return hm.NewFnType(ts...)
}

// newMat allocates a zeroed float32 [rows, cols] tensor.
func newMat(rows, cols int) *tensor.Dense {
	return tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(make([]float32, rows*cols)))
}

// data returns the float32 backing of a matrix value, and its shape.
func data(v G.Value) ([]float32, int, int) {
	t := v.(*tensor.Dense)
	s := t.Shape()
	return t.Data().([]float32), s[0], s[1]
}

// base supplies the parts of gorgonia's Op interface shared by every op here.
type base struct {
	name  string
	arity int
	typ   opType
	// shape computes the output shape from the input shapes (graph construction time).
	shape func(in []tensor.Shape) tensor.Shape
	// pool supplies the buffers (nil: plain allocation); uses is the number of ops that read
	// this op's value. Both are set when the graph is complete (finish).
	pool *bufPool
	uses int
}

func newBase(name string, arity int, typ opType, shape func([]tensor.Shape) tensor.Shape) base {
	return base{name: name, arity: arity, typ: typ, shape: shape}
}

// pooled is implemented by every op here (through base).
type pooled interface {
	setPool(p *bufPool, uses int)
}

func (b *base) setPool(p *bufPool, uses int) { b.pool, b.uses = p, uses }

// out hands out the op's [rows, cols] value (contents arbitrary: the op overwrites them).
func (b *base) out(rows, cols int) *tensor.Dense { return b.outUses(rows, cols, b.uses) }

// newOut is out with the value's backing.
func (b *base) newOut(rows, cols int) (*tensor.Dense, []float32) {
	y := b.out(rows, cols)
	yd, _, _ := b.mat(y)
	return y, yd
}

// outUses is out for a value read by uses ops.
func (b *base) outUses(rows, cols, uses int) *tensor.Dense {
	if b.pool == nil {
		return newMat(rows, cols)
	}
	return b.pool.mat(rows, cols, uses)
}

// th is the kernel goroutine cap of the step the op runs in.
func (b *base) th() kern.Threads {
	if b.pool == nil {
		return 0
	}
	return b.pool.threads
}

// mat returns a matrix value's backing and shape.
func (b *base) mat(v G.Value) ([]float32, int, int) { return b.pool.data(v) }

// done records that the op has read its inputs (each distinct value once).
func (b *base) done(in []G.Value) {
	if b.pool == nil {
		return
	}
	for i, v := range in {
		if !slices.Contains(in[:i], v) {
			b.pool.consumed(v)
		}
	}
}

// scratch hands out n values of saved state, given back with drop.
func (b *base) scratch(n int) *buf {
	if b.pool == nil {
		return &buf{data: make([]float32, n), live: true}
	}
	return b.pool.scratch(n)
}

// drop gives back scratch or a value the op owns.
func (b *base) drop(x *buf) {
	if b.pool != nil && x != nil {
		b.pool.put(x)
	}
}

// dropValue gives back a matrix value nobody will read.
func (b *base) dropValue(t *tensor.Dense) {
	if b.pool != nil && t != nil {
		if r, ok := b.pool.byHead[t]; ok {
			b.pool.put(r.b)
		}
	}
}

func (b *base) Arity() int            { return b.arity }
func (b *base) Type() hm.Type         { return b.typ.build() }
func (b *base) ReturnsPtr() bool      { return false }
func (b *base) CallsExtern() bool     { return false }
func (b *base) OverwritesInput() int  { return -1 }
func (b *base) String() string        { return b.name }
func (b *base) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s@%p", b.name, b) }
func (b *base) Hashcode() uint32      { h := fnv.New32a(); b.WriteHash(h); return h.Sum32() }
func (b *base) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	shapes := make([]tensor.Shape, len(in))
	for i, d := range in {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, fmt.Errorf("%s: input %d has no shape", b.name, i)
		}
		shapes[i] = s
	}
	return b.shape(shapes), nil
}

// allTrue is the DiffWRT of an op differentiable in all its n inputs.
func allTrue(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

func same(i int) func([]tensor.Shape) tensor.Shape {
	return func(in []tensor.Shape) tensor.Shape { return in[i].Clone() }
}

func rowsBy(cols int) func([]tensor.Shape) tensor.Shape {
	return func(in []tensor.Shape) tensor.Shape { return tensor.Shape{in[0][0], cols} }
}

// gradOp is the backward op of an op with one differentiable input: back computes that
// input's gradient (a value from b.out) from the op's inputs, the forward op's input and the
// incoming gradient, or the gradient alone; Do then records them read.
type gradOp struct {
	base
	back func(b *base, in []G.Value) *tensor.Dense
}

func (o *gradOp) Do(in ...G.Value) (G.Value, error) {
	dx := o.back(&o.base, in)
	o.done(in)
	return dx, nil
}

// inputGrad is the SymDiff of an op named name with one differentiable input: a gradOp (name')
// over children, of type typ and shape shape, computing with back.
func inputGrad(name string, typ opType, shape func([]tensor.Shape) tensor.Shape, back func(*base, []G.Value) *tensor.Dense, children ...*G.Node) (G.Nodes, error) {
	dx, err := apply(&gradOp{newBase(name+"'", len(children), typ, shape), back}, children...)
	return G.Nodes{dx}, err
}

// apply adds op to the graph over children.
func apply(op G.Op, children ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(op, children...)
	if err != nil {
		return nil, fmt.Errorf("train: graph: %v: %w", op, err)
	}
	return n, nil
}
