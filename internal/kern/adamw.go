package kern

import (
	"fmt"
	"math"
)

// AdamW holds torch.optim.AdamW hyper-parameters (decoupled weight decay).
type AdamW struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
}

// Step applies one AdamW update to parameters p with gradient g and moment
// buffers m, v (all the same length; m and v start at zero), for step t >= 1.
// It follows torch's single-tensor implementation operation by operation in
// float32, with python-float scalars computed in float64:
//
//	p *= 1 - lr*wd
//	m = m + (1-β1)*(g - m)            (lerp)
//	v = v*β2 + (1-β2)*g*g
//	p += (-lr/(1-β1^t)) * m / (sqrt(v)/sqrt(1-β2^t) + eps)
func (o AdamW) Step(p, g, m, v []float32, step int) {
	n := len(p)
	if len(g) != n || len(m) != n || len(v) != n {
		panic(fmt.Sprintf("kern: adamw: len(p)=%d len(g)=%d len(m)=%d len(v)=%d", n, len(g), len(m), len(v)))
	}
	if step < 1 {
		panic(fmt.Sprintf("kern: adamw: step %d, want >= 1", step))
	}
	t := float64(step)
	decay := float32(1 - o.LR*o.WeightDecay)
	w1 := float32(1 - o.Beta1)
	b2 := float32(o.Beta2)
	w2 := float32(1 - o.Beta2)
	bc1 := 1 - math.Pow(o.Beta1, t)
	bc2 := 1 - math.Pow(o.Beta2, t)
	negStep := float32(-(o.LR / bc1))
	bc2sqrt := float32(math.Sqrt(bc2))
	eps := float32(o.Eps)
	wd := o.WeightDecay != 0
	ParallelFor(n, 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			pi := p[i]
			if wd {
				pi = float32(pi * decay)
			}
			gi := g[i]
			var mi float32
			if w1 < 0.5 { // torch's lerp: self + w*(end-self) for w < 0.5
				mi = m[i] + float32(w1*float32(gi-m[i]))
			} else {
				mi = gi - float32(float32(gi-m[i])*float32(1-w1))
			}
			vi := float32(v[i]*b2) + float32(float32(w2*gi)*gi)
			denom := float32(float32(math.Sqrt(float64(vi)))/bc2sqrt) + eps
			pi += float32(float32(negStep*mi) / denom)
			p[i], m[i], v[i] = pi, mi, vi
		}
	})
}
