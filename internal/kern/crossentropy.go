// Cross-entropy of logits against target ids, with its gradient, in one pass.

package kern

import (
	"fmt"
	"math"
	"sync"
)

// f64Pool pools CrossEntropy's float64 scratch (one value per row).
var f64Pool = sync.Pool{New: func() any { return new([]float64) }}

// CrossEntropy computes the summed negative log-likelihood of targets over the
// rows of logits [R, v] (R = len(targets)); a target of -1 ignores its row.
// It returns the float64 sum and the number of counted rows. If dlogits is not
// nil ([R, v], may alias logits) it receives scale*(softmax(row) - onehot) for
// counted rows and 0 for ignored rows.
func (th Threads) CrossEntropy(dlogits, logits []float32, v int, targets []int32, scale float32) (loss float64, count int) {
	R := len(targets)
	if v <= 0 || len(logits) != R*v || (dlogits != nil && len(dlogits) != R*v) {
		panic(fmt.Sprintf("kern: cross entropy: %d targets, vocab %d: len(logits)=%d len(dlogits)=%d", R, v, len(logits), len(dlogits)))
	}
	for r, t := range targets {
		if t < -1 || int(t) >= v {
			panic(fmt.Sprintf("kern: cross entropy: target %d of row %d outside [0,%d) and not -1", t, r, v))
		}
	}
	lp := f64Pool.Get().(*[]float64)
	if cap(*lp) < R {
		*lp = make([]float64, R)
	}
	losses := (*lp)[:R]
	th.ParallelFor(R, max(1, 8192/v), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := logits[r*v : (r+1)*v]
			t := int(targets[r])
			if t < 0 {
				losses[r] = 0
				if dlogits != nil {
					clear(dlogits[r*v : (r+1)*v])
				}
				continue
			}
			mx, lse := rowLSE(row)
			losses[r] = -(float64(row[t]) - mx - lse)
			if dlogits != nil {
				d := dlogits[r*v : (r+1)*v]
				off := mx + lse
				for j, x := range row {
					d[j] = float32(float64(scale) * math.Exp(float64(x)-off))
				}
				d[t] -= scale
			}
		}
	})
	for r, t := range targets {
		if t >= 0 {
			loss += losses[r]
			count++
		}
	}
	f64Pool.Put(lp)
	return loss, count
}
