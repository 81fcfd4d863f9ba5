package train

// Training-graph op: Gradient sink.

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// sinkOp adds its input (a LoRA gradient) into a buffer the trainer owns, the moment it is
// computed, so no later reuse of the value's register can change what the trainer reads.
type sinkOp struct {
	base
	dst  []float32
	zero G.F32
	// direct: the gradient op already added into dst (loraGradOp.into); Do only marks its
	// output read.
	direct bool
}

func newSink(name string, dst []float32) *sinkOp {
	return &sinkOp{base: newBase(name, 1, toScalar, func([]tensor.Shape) tensor.Shape { return tensor.ScalarShape() }), dst: dst}
}

func (o *sinkOp) Do(in ...G.Value) (G.Value, error) {
	if o.direct {
		o.done(in)
		return &o.zero, nil
	}
	g, _, _ := o.mat(in[0])
	if len(g) != len(o.dst) {
		return nil, fmt.Errorf("%s: gradient has %d values, buffer %d", o.name, len(g), len(o.dst))
	}
	for i, v := range g {
		o.dst[i] += v
	}
	o.done(in)
	return &o.zero, nil
}
