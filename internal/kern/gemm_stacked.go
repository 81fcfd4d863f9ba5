package kern

import "fmt"

// Stacked products for LoRA-adapted projections. A projection with a LoRA
// adapter computes y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ: W [out,in] frozen (any DType), A
// [r,in] and B [out,r] float32. Computed separately, x·Wᵀ and the skinny
// x·Aᵀ each pack x; stacked, A's rows are extra columns of op(B) = [Wᵀ | Aᵀ],
// so one packed product over x yields both y and t = x·Aᵀ (written to their
// own buffers). Backward, the input gradient dx = dy·W + (s·u)·A (u = dy·B)
// is one product over k = out + r: [dy | s·u]·[W ; A].

// LinearLoRA computes y[m,w.Rows] = x[m,w.Cols]·Wᵀ (y += when accumulate)
// and t[m,r] = x·Aᵀ (a [r,w.Cols], float32; t is always overwritten) with one
// packed product, x packed once for both. With the assembly Gemm kernel,
// m >= 8 and w.Rows a multiple of the kernel's register tile width (every
// real model's projections), the stacked driver runs; otherwise Linear and
// Gemm do the two products.
func (th Threads) LinearLoRA(y, t, x []float32, m int, w *Weight, a []float32, r int, accumulate bool) {
	checkLinearLoRA("linear lora", y, x, t, m, w.Rows, w.Cols, w, a, r)
	linearLoRA(fastKernel, y, t, x, m, w, a, r, accumulate, th.workers())
}

// LinearLoRABackwardInput computes dx[m,w.Cols] = dy[m,w.Rows]·W + su[m,r]·A
// (dx += when accumulate; a [r,w.Cols], float32; su is the LoRA branch's
// gradient s·(dy·B)) as one product over the concatenated depth w.Rows + r.
// With the assembly Gemm kernel and m >= 8 the stacked driver runs (for a
// weight in panel layout, backwardWT: dxᵀ from W read in place);
// otherwise LinearBackwardInput and Gemm add the two terms.
func (th Threads) LinearLoRABackwardInput(dx, dy, su []float32, m int, w *Weight, a []float32, r int, accumulate bool) {
	checkLinearLoRA("linear lora backward", dx, dy, su, m, w.Cols, w.Rows, w, a, r)
	linearLoRABackwardInput(fastKernel, dx, dy, su, m, w, a, r, accumulate, th.workers())
}

// checkLinearLoRA checks the lengths of the operands: out [m,outW], in
// [m,inW], the LoRA-side [m,r] and A [r,w.Cols].
func checkLinearLoRA(name string, out, in, lr []float32, m, outW, inW int, w *Weight, a []float32, r int) {
	checkLinear(name, out, in, m, outW, inW, w)
	if r < 0 || len(a) < r*w.Cols || len(lr) < m*r {
		panic(fmt.Sprintf("kern: %s: m=%d rank=%d weight [%d,%d]: len(a)=%d want %d, len of the [m,rank] operand %d want %d",
			name, m, r, w.Rows, w.Cols, len(a), r*w.Cols, len(lr), m*r))
	}
}

// weightB returns w as the first source of a bMat.
func weightB(w *Weight, trans bool) bMat {
	b := bMat{dt: w.DType, trans: trans, ld: w.Cols, panel: w.Panel}
	if w.DType == F32 {
		b.f32 = w.F32
	} else {
		b.half = w.Half
	}
	return b
}

// stackable reports whether the stacked driver kn can take a product with
// m rows (nil kn: the portable build).
func stackable(kn *gemmKernel, m int, w *Weight) bool {
	return kn != nil && m >= fastMinM && (w.DType == F32 || w.DType == BF16 || w.DType == F16)
}

// linearLoRA is LinearLoRA with packed variant kn (nil: the separate
// products), over all processors when parallel.
func linearLoRA(kn *gemmKernel, y, t, x []float32, m int, w *Weight, a []float32, r int, accumulate bool, workers int) {
	R, C := w.Rows, w.Cols
	if m == 0 {
		return
	}
	beta := betaOf(accumulate)
	if stackable(kn, m, w) && R > 0 && r > 0 && C > 0 && R%kn.nr == 0 {
		b := weightB(w, true)
		b.f2, b.ld2, b.at, b.split = a, C, R, splitCols
		gemmBlockedSplit(kn, false, m, R+r, C, 1, x, C, b, beta, y, R, workers, gemmSplit{c2: t, ldc2: r, cAt: R})
		return
	}
	th := Threads(workers)
	th.Linear(y, x, m, w, accumulate)
	if r > 0 {
		th.Gemm(false, true, m, r, C, 1, x, C, a, C, 0, t, r)
	}
}

// linearLoRABackwardInput is LinearLoRABackwardInput with packed variant kn
// (nil: the separate products), over all processors when parallel.
func linearLoRABackwardInput(kn *gemmKernel, dx, dy, su []float32, m int, w *Weight, a []float32, r int, accumulate bool, workers int) {
	R, C := w.Rows, w.Cols
	if m == 0 || C == 0 {
		return
	}
	if R > 0 && wtUsable(kn, m, w) {
		backwardWT(kn, dx, dy, su, m, w, a, r, accumulate, workers)
		return
	}
	beta := betaOf(accumulate)
	if stackable(kn, m, w) && R > 0 && r > 0 {
		b := weightB(w, false)
		b.f2, b.ld2, b.at, b.split = a, C, R, splitRows
		gemmBlockedSplit(kn, false, m, C, R+r, 1, dy, R, b, beta, dx, C, workers, gemmSplit{a2: su, lda2: r, kAt: R})
		return
	}
	th := Threads(workers)
	th.LinearBackwardInput(dx, dy, m, w, accumulate)
	if r > 0 {
		th.Gemm(false, false, m, C, r, 1, su, r, a, C, 1, dx, C)
	}
}
