package kern

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

func checkRows(name string, n int, lens ...int) int {
	if n <= 0 {
		panic(fmt.Sprintf("kern: %s: row width %d", name, n))
	}
	rows := lens[0] / n
	for _, l := range lens {
		if l != rows*n {
			// a copy, so that lens does not escape (the callers' variadic slices stay on the stack)
			panic(fmt.Sprintf("kern: %s: lengths %v are not the same multiple of width %d", name, slices.Clone(lens), n))
		}
	}
	return rows
}

// rmsInv returns 1/sqrt(mean(x²)+eps) rounded to float32. The sum of squares
// is accumulated in float64 (sumSqK's partial sums, vectorised where the CPU
// allows), i.e. it is the correctly rounded float32 mean that torch's float32
// reduction approximates.
func rmsInv(x []float32, eps float32) float32 {
	ms := float32(sumSqK(x) / float64(len(x)))
	return float32(1 / math.Sqrt(float64(ms+eps)))
}

// RMSNorm normalises each row of width n: y = (x * 1/sqrt(mean(x²)+eps)) * w,
// in float32 like Hugging Face's LlamaRMSNorm. y may alias x. It does not
// allocate.
func (th Threads) RMSNorm(y, x, w []float32, n int, eps float32) {
	rows := checkRows("rmsnorm", n, len(x), len(y))
	j := rmsNormPool.Get().(*rmsNormJob)
	*j = rmsNormJob{y: y, x: x, w: w[:n], n: n, eps: eps}
	parallelRows(th.workers(), rows, max(1, 8192/n), j)
	*j = rmsNormJob{}
	rmsNormPool.Put(j)
}

// rmsNormJob holds the arguments of an RMSNorm call (pooled).
type rmsNormJob struct {
	y, x, w []float32
	n       int
	eps     float32
}

var rmsNormPool = sync.Pool{New: func() any { return new(rmsNormJob) }}

func (j *rmsNormJob) rows(lo, hi int) {
	n, w := j.n, j.w
	for r := lo; r < hi; r++ {
		xr := j.x[r*n : (r+1)*n]
		yr := j.y[r*n : (r+1)*n]
		inv := rmsInv(xr, j.eps)
		for i, v := range xr {
			yr[i] = w[i] * float32(v*inv)
		}
	}
}

// RMSNormBackward writes dx for y = RMSNorm(x, w) given dy, with w frozen (no
// weight gradient). dx may alias x but not dy.
//
//	dx_j = r*w_j*dy_j - r³/n * x_j * Σ_i dy_i*w_i*x_i,  r = 1/sqrt(mean(x²)+eps)
func (th Threads) RMSNormBackward(dx, dy, x, w []float32, n int, eps float32) {
	rows := checkRows("rmsnorm backward", n, len(x), len(dy), len(dx))
	w = w[:n]
	th.ParallelFor(rows, max(1, 8192/n), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*n : (r+1)*n]
			dyr := dy[r*n : (r+1)*n]
			dxr := dx[r*n : (r+1)*n]
			inv := float64(rmsInv(xr, eps))
			var s float64
			for i, v := range xr {
				s += float64(dyr[i]) * float64(w[i]) * float64(v)
			}
			c := float32(inv * inv * inv * s / float64(n))
			finv := float32(inv)
			for i, v := range xr {
				dxr[i] = finv*w[i]*dyr[i] - c*v
			}
		}
	})
}
