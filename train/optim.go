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

// UpdateOptions are the optional parts of an optimizer update (Engine.Update).
type UpdateOptions struct {
	// MaxGradNorm clips the global gradient norm as torch.nn.utils.clip_grad_norm_ (and so
	// transformers' Trainer with max_grad_norm): the gradients are multiplied by coef =
	// MaxGradNorm/(norm+1e-6) when coef < 1. 0 means no clipping.
	MaxGradNorm float64
	// ZeroGrad clears the gradients in the same pass, after they are used, ready for the
	// next step's accumulation (instead of a separate ZeroGrad).
	ZeroGrad bool
}

// Update applies one AdamW update with learning rate lr to every adapter matrix, using the
// accumulated gradients, advances the step count and returns the global gradient norm (the
// Euclidean norm over all adapter gradients, before clipping, as transformers logs it).
//
// Without clipping it is one fused parallel pass over all the matrices at once: each element
// of the parameters, gradients and both moments is read once, the parameters and moments
// are written once (and the gradient cleared when u.ZeroGrad), and the squared norm is
// accumulated on the way in float64. With clipping the norm is needed before the update, so
// it is two passes: a read-only pass over the gradients for the norm, then the update pass
// with the clip coefficient folded in (each gradient element multiplied by it in float32, as
// torch does in place; the stored gradients are not scaled). The update of each element is
// torch's single-tensor AdamW, bit for bit.
func (e *Engine) Update(o AdamW, lr float64, u UpdateOptions) (float64, error) {
	if err := o.validate(); err != nil {
		return 0, err
	}
	if !(lr >= 0) || math.IsInf(lr, 0) {
		return 0, fmt.Errorf("train: learning rate %v", lr)
	}
	if !(u.MaxGradNorm >= 0) || math.IsInf(u.MaxGradNorm, 0) {
		return 0, fmt.Errorf("train: max gradient norm %v", u.MaxGradNorm)
	}
	ts := make([]kern.AdamWTensor, 0, 2*len(e.params))
	for _, p := range e.params {
		if p.mA == nil {
			p.mA, p.vA = make([]float32, len(p.gradA)), make([]float32, len(p.gradA))
			p.mB, p.vB = make([]float32, len(p.gradB)), make([]float32, len(p.gradB))
		}
		ts = append(ts,
			kern.AdamWTensor{P: p.pair.A, G: p.gradA, M: p.mA, V: p.vA},
			kern.AdamWTensor{P: p.pair.B, G: p.gradB, M: p.mB, V: p.vB})
	}
	pass := kern.AdamWPass{ZeroGrad: u.ZeroGrad, Threads: e.threads()}
	norm := -1.0
	if u.MaxGradNorm > 0 {
		norm = e.GradNorm()
		if coef := u.MaxGradNorm / (norm + 1e-6); coef < 1 {
			pass.GradScale = float32(coef)
		}
	}
	e.step++
	k := kern.AdamW{LR: lr, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay}
	ss := k.StepTensors(ts, e.step, pass)
	if norm < 0 {
		norm = math.Sqrt(ss)
	}
	return norm, nil
}

// Step applies one AdamW update with learning rate lr to every adapter matrix, using the
// accumulated gradients, and advances the step count. The gradients are left as they are.
// It is Update without clipping.
func (e *Engine) Step(o AdamW, lr float64) error {
	_, err := e.Update(o, lr, UpdateOptions{})
	return err
}

// Steps is the number of optimizer steps taken.
func (e *Engine) Steps() int { return e.step }

// GradNorm is the Euclidean norm of the accumulated gradient over all adapter matrices (one
// parallel read-only pass, float64 sums).
func (e *Engine) GradNorm() float64 {
	gs := make([][]float32, 0, 2*len(e.params))
	for _, p := range e.params {
		gs = append(gs, p.gradA, p.gradB)
	}
	return math.Sqrt(e.threads().SumSquares(gs))
}
