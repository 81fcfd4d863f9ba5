package kern

import "runtime"

// Threads caps the goroutines one kernel call runs on: n > 0 means at most n (and at most
// GOMAXPROCS), 0 means GOMAXPROCS. Every parallel kernel is a method of Threads, so that a
// model or a trainer sharing the machine with other work passes its own cap down with each
// call; nothing is set process-wide. The package-level functions below are the methods of
// Threads(0), for callers without a cap.
type Threads int

// workers is the number of goroutines a call with cap th may use (>= 1).
func (th Threads) workers() int {
	p := runtime.GOMAXPROCS(0)
	if th > 0 && int(th) < p {
		return int(th)
	}
	return p
}

// Gemm is Threads(0).Gemm.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Threads(0).Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Linear is Threads(0).Linear.
func Linear(y, x []float32, m int, w *Weight, accumulate bool) {
	Threads(0).Linear(y, x, m, w, accumulate)
}

// LinearBackwardInput is Threads(0).LinearBackwardInput.
func LinearBackwardInput(dx, dy []float32, m int, w *Weight, accumulate bool) {
	Threads(0).LinearBackwardInput(dx, dy, m, w, accumulate)
}

// LinearLoRA is Threads(0).LinearLoRA.
func LinearLoRA(y, t, x []float32, m int, w *Weight, a []float32, r int, accumulate bool) {
	Threads(0).LinearLoRA(y, t, x, m, w, a, r, accumulate)
}

// LinearLoRABackwardInput is Threads(0).LinearLoRABackwardInput.
func LinearLoRABackwardInput(dx, dy, su []float32, m int, w *Weight, a []float32, r int, accumulate bool) {
	Threads(0).LinearLoRABackwardInput(dx, dy, su, m, w, a, r, accumulate)
}

// ParallelFor is Threads(0).ParallelFor.
func ParallelFor(n, grain int, fn func(lo, hi int)) { Threads(0).ParallelFor(n, grain, fn) }

// RMSNorm is Threads(0).RMSNorm.
func RMSNorm(y, x, w []float32, n int, eps float32) { Threads(0).RMSNorm(y, x, w, n, eps) }

// RMSNormBackward is Threads(0).RMSNormBackward.
func RMSNormBackward(dx, dy, x, w []float32, n int, eps float32) {
	Threads(0).RMSNormBackward(dx, dy, x, w, n, eps)
}

// SwiGLU is Threads(0).SwiGLU.
func SwiGLU(h, g, u []float32) { Threads(0).SwiGLU(h, g, u) }

// SwiGLUBackward is Threads(0).SwiGLUBackward.
func SwiGLUBackward(dg, du, dh, g, u []float32) { Threads(0).SwiGLUBackward(dg, du, dh, g, u) }

// Softmax is Threads(0).Softmax.
func Softmax(x []float32, n int) { Threads(0).Softmax(x, n) }

// CrossEntropy is Threads(0).CrossEntropy.
func CrossEntropy(dlogits, logits []float32, v int, targets []int32, scale float32) (loss float64, count int) {
	return Threads(0).CrossEntropy(dlogits, logits, v, targets, scale)
}

// SumSquares is Threads(0).SumSquares.
func SumSquares(xs [][]float32) float64 { return Threads(0).SumSquares(xs) }

// Attention is Threads(0).Attention.
func Attention(out, q, k, v, probs []float32, mask []float32, s AttnShape, scale float32) {
	Threads(0).Attention(out, q, k, v, probs, mask, s, scale)
}

// AttentionBackward is Threads(0).AttentionBackward.
func AttentionBackward(dq, dk, dv, dout, q, k, v, probs []float32, s AttnShape, scale float32) {
	Threads(0).AttentionBackward(dq, dk, dv, dout, q, k, v, probs, s, scale)
}

// AttentionCached is Threads(0).AttentionCached.
func AttentionCached(out, q, k, v, mask []float32, s CachedShape, scale float32) {
	Threads(0).AttentionCached(out, q, k, v, mask, s, scale)
}

// AttentionCachedTrain is Threads(0).AttentionCachedTrain.
func AttentionCachedTrain(out, q, k, v, probs, mask []float32, s CachedShape, scale float32) {
	Threads(0).AttentionCachedTrain(out, q, k, v, probs, mask, s, scale)
}

// AttentionCachedBackward is Threads(0).AttentionCachedBackward.
func AttentionCachedBackward(dq, dk, dv, dout, q, k, v, probs []float32, s CachedShape, scale float32) {
	Threads(0).AttentionCachedBackward(dq, dk, dv, dout, q, k, v, probs, s, scale)
}

// Apply is Threads(0).RopeApply.
func (r *Rope) Apply(x []float32, positions []int32, heads int) {
	Threads(0).RopeApply(r, x, positions, heads)
}

// ApplyBackward is Threads(0).RopeApplyBackward.
func (r *Rope) ApplyBackward(dx []float32, positions []int32, heads int) {
	Threads(0).RopeApplyBackward(r, dx, positions, heads)
}

// Angles is Threads(0).RopeAngles.
func (r *Rope) Angles(cs, sn []float32, positions []int32) {
	Threads(0).RopeAngles(r, cs, sn, positions)
}

// ApplyAngles is Threads(0).RopeApplyAngles.
func (r *Rope) ApplyAngles(x, cs, sn []float32, heads int) {
	Threads(0).RopeApplyAngles(r, x, cs, sn, heads)
}
