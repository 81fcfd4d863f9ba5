package train

// Training-graph op: Adapted projection: y = x Wᵀ + scale · (x Aᵀ) Bᵀ, x packed once.

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/valora-go/valora/internal/kern"
)

// loraLinearOp is a frozen projection with its LoRA branch fused: A's rows are stacked under
// W so that one product over x yields x Wᵀ and t = x Aᵀ (kern.LinearLoRA); scale·t Bᵀ is then
// added into y. Backward, dx = [dy | scale·u] [W ; A] is one product over depth out + r (u = dy
// B, computed once per step for dx and dA); dA = scale·uᵀ x, dB = scale·dyᵀ t. The adapter's
// input must be the projection's (no dropout on it).
type loraLinearOp struct{ loraCommon }

func newLoRALinear(name string, w *kern.Weight, scale float32) *loraLinearOp {
	return &loraLinearOp{loraCommon{newBase(name, 3, matFn3, rowsBy(w.Rows)), w, &loraState{scale: scale, scaledU: true}}}
}

func (o *loraLinearOp) Do(in ...G.Value) (G.Value, error) {
	x, n, k := o.mat(in[0])
	a, r, ka := o.mat(in[1])
	b, out, rb := o.mat(in[2])
	if k != o.w.Cols || ka != k || out != o.w.Rows || rb != r {
		return nil, fmt.Errorf("%s: x [%d,%d], A [%d,%d], B [%d,%d] do not fit weight [%d,%d]",
			o.name, n, k, r, ka, out, rb, o.w.Rows, o.w.Cols)
	}
	st := o.st
	st.ver++
	o.drop(st.t)
	st.t = o.scratch(n * r)
	y := o.out(n, out)
	yd, _, _ := o.mat(y)
	o.th().LinearLoRA(yd, st.t.data, x, n, o.w, a, r, false)
	o.th().Gemm(false, true, n, out, r, st.scale, st.t.data, r, b, r, 1, yd, out)
	st.keepT(&o.base)
	o.done(in)
	return y, nil
}
