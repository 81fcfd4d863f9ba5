// Softmax over rows, log-sum-exp and log softmax, accumulated in float64.

package kern

import (
	"fmt"
	"math"
)

// Softmax replaces each row of width n by its softmax (float32,
// max-subtracted, normalised by multiplying with 1/sum as torch does).
func (th Threads) Softmax(x []float32, n int) {
	rows := checkRows("softmax", n, len(x))
	th.ParallelFor(rows, max(1, 8192/n), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			softmaxRow(x[r*n : (r+1)*n])
		}
	})
}

func softmaxRow(x []float32) {
	mx := x[0]
	for _, v := range x[1:] {
		if v > mx {
			mx = v
		}
	}
	var sum float64
	for i, v := range x {
		e := float32(math.Exp(float64(v - mx)))
		x[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}

// rowLSE returns the row maximum and log Σ exp(x - max), in float64.
func rowLSE(row []float32) (mx, lse float64) {
	mx = math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - mx)
	}
	return mx, math.Log(s)
}

// LogSumExp returns log Σ exp(row), accumulated in float64 (the log-partition of a row of
// logits: row[i] - LogSumExp(row) is log softmax(row)[i]).
func LogSumExp(row []float32) float64 {
	mx, lse := rowLSE(row)
	return mx + lse
}

// LogSoftmaxAt returns log softmax(row)[idx], accumulated in float64.
func LogSoftmaxAt(row []float32, idx int) float64 {
	if idx < 0 || idx >= len(row) {
		panic(fmt.Sprintf("kern: log softmax: index %d outside row of %d", idx, len(row)))
	}
	mx, lse := rowLSE(row)
	return float64(row[idx]) - mx - lse
}
