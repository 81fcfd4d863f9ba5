package train

import (
	"fmt"
	"math"

	"github.com/valora-go/valora/internal/kern"
)

// AdamW holds the hyper-parameters of torch.optim.AdamW: decoupled weight decay, bias
// correction, eps added outside the square root.
type AdamW struct {
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64
}

// DefaultAdamW is torch's default betas and eps with no weight decay (transformers' Trainer
// default).
func DefaultAdamW() AdamW { return AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

func (o AdamW) validate() error {
	if !(o.Beta1 >= 0 && o.Beta1 < 1) || !(o.Beta2 >= 0 && o.Beta2 < 1) || !(o.Eps > 0) || !(o.WeightDecay >= 0) {
		return fmt.Errorf("train: invalid AdamW settings %+v", o)
	}
	return nil
}

// Step applies one AdamW update with learning rate lr to every adapter matrix, using the
// accumulated gradients, and advances the step count. The gradients are left as they are.
func (e *Engine) Step(o AdamW, lr float64) error {
	if err := o.validate(); err != nil {
		return err
	}
	if !(lr >= 0) || math.IsInf(lr, 0) {
		return fmt.Errorf("train: learning rate %v", lr)
	}
	e.step++
	k := kern.AdamW{LR: lr, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay}
	for _, p := range e.params {
		if p.mA == nil {
			p.mA, p.vA = make([]float32, len(p.gradA)), make([]float32, len(p.gradA))
			p.mB, p.vB = make([]float32, len(p.gradB)), make([]float32, len(p.gradB))
		}
		k.Step(p.pair.A, p.gradA, p.mA, p.vA, e.step)
		k.Step(p.pair.B, p.gradB, p.mB, p.vB, e.step)
	}
	return nil
}

// Steps is the number of optimizer steps taken.
func (e *Engine) Steps() int { return e.step }

// GradNorm is the Euclidean norm of the accumulated gradient over all adapter matrices.
func (e *Engine) GradNorm() float64 {
	var s float64
	for _, p := range e.params {
		for _, g := range [][]float32{p.gradA, p.gradB} {
			for _, v := range g {
				s += float64(v) * float64(v)
			}
		}
	}
	return math.Sqrt(s)
}

// scaleGrad multiplies the accumulated gradients by f (gradient clipping).
func (e *Engine) scaleGrad(f float32) {
	for _, p := range e.params {
		for _, g := range [][]float32{p.gradA, p.gradB} {
			for i := range g {
				g[i] *= f
			}
		}
	}
}
