package kern

import "fmt"

// halfTileFloats is the size of the float32 scratch a half-precision weight is
// decoded into at a time (1 MiB).
const halfTileFloats = 1 << 18

func checkLinear(name string, out, in []float32, m, outW, inW int, w *Weight) {
	if w.DType == F32 && len(w.F32) < w.Rows*w.Cols || w.DType != F32 && len(w.Half) < w.Rows*w.Cols {
		panic(fmt.Sprintf("kern: %s: weight [%d,%d] %s storage too short", name, w.Rows, w.Cols, w.DType))
	}
	if m < 0 || len(in) < m*inW || len(out) < m*outW {
		panic(fmt.Sprintf("kern: %s: m=%d weight [%d,%d]: len(in)=%d want %d, len(out)=%d want %d",
			name, m, w.Rows, w.Cols, len(in), m*inW, len(out), m*outW))
	}
}

// tileRows is how many weight rows of width cols fit one decode tile.
func tileRows(rows, cols int) int {
	return min(rows, max(halfTileFloats/max(cols, 1), 8))
}

// Linear computes y[m,w.Rows] = x[m,w.Cols] · Wᵀ (y += when accumulate).
// With the assembly Gemm kernel (amd64 AVX2+FMA) and m >= 8, half-precision
// weights are decoded while packing the kernel's panels; otherwise they are
// decoded tile by tile into pooled scratch.
func (th Threads) Linear(y, x []float32, m int, w *Weight, accumulate bool) {
	R, C := w.Rows, w.Cols
	checkLinear("linear", y, x, m, R, C, w)
	if m == 0 || R == 0 || th.linearDirect(true, y, x, m, w, accumulate) {
		return
	}
	tr := tileRows(R, C)
	ntiles := (R + tr - 1) / tr
	if m < 2*mr {
		// Few rows of x: each worker decodes its own tiles and takes dot products.
		th.ParallelFor(ntiles, 1, func(lo, hi int) {
			buf := getF32(tr * C)
			for t := lo; t < hi; t++ {
				r0, r1 := t*tr, min(R, (t+1)*tr)
				decodeRows(w, r0, r1, 0, C, buf.s)
				for i := 0; i < m; i++ {
					xi := x[i*C : (i+1)*C]
					yi := y[i*R+r0 : i*R+r1]
					for j := range yi {
						d := dotK(xi, buf.s[j*C:(j+1)*C])
						if accumulate {
							yi[j] += d
						} else {
							yi[j] = d
						}
					}
				}
			}
			putF32(buf)
		})
		return
	}
	buf := getF32(tr * C)
	for t := 0; t < ntiles; t++ {
		r0, r1 := t*tr, min(R, (t+1)*tr)
		th.decodeParallel(w, r0, r1, 0, C, buf.s)
		th.Gemm(false, true, m, r1-r0, C, 1, x, C, buf.s, C, betaOf(accumulate), y[r0:], R)
	}
	putF32(buf)
}

// betaOf is the Gemm beta of a product that overwrites (0) or accumulates (1).
func betaOf(accumulate bool) float32 {
	if accumulate {
		return 1
	}
	return 0
}

// linearDirect computes Linear's out = in·Wᵀ (trans) or LinearBackwardInput's out = in·W
// (out += when accumulate) straight from w's storage where it can: row-major float32 weights
// through Gemm, panel layout and half precision through the packed driver, which reads the
// panels in place or transposes or decodes them while it packs. It reports
// false, having done nothing, when the caller must decode w tile by tile.
func (th Threads) linearDirect(trans bool, out, in []float32, m int, w *Weight, accumulate bool) bool {
	n, k := w.Cols, w.Rows
	if trans {
		n, k = k, n
	}
	beta := betaOf(accumulate)
	switch {
	case w.DType == F32 && w.Panel == 0:
		th.Gemm(false, trans, m, n, k, 1, in, k, w.F32, w.Cols, beta, out, n)
	case !trans && k > 0 && wtUsable(fastKernel, m, w):
		backwardWT(fastKernel, out, in, nil, m, w, nil, 0, accumulate, th.workers())
	case trans && w.Panel > 0 && w.Panel%16 == 0 && m < fastMinM && k > 0:
		th.panelGemv(out, in, m, w, accumulate)
	case fastKernel != nil && w.Panel > 0:
		// Read in place (forward) or transposed from its panels (backward), for any m:
		// small m is bound by reading w either way.
		gemmBlocked(fastKernel, false, m, n, k, 1, in, k, weightB(w, trans), beta, out, n, th.workers())
	case fastKernel != nil && m >= fastMinM && (w.DType == BF16 || w.DType == F16):
		gemmBlocked(fastKernel, false, m, n, k, 1, in, k, bMat{half: w.Half, dt: w.DType, trans: trans, ld: w.Cols}, beta, out, n, th.workers())
	default:
		return false
	}
	return true
}

// LinearBackwardInput computes dx[m,w.Cols] = dy[m,w.Rows] · W (dx += when
// accumulate).
func (th Threads) LinearBackwardInput(dx, dy []float32, m int, w *Weight, accumulate bool) {
	R, C := w.Rows, w.Cols
	checkLinear("linear backward", dx, dy, m, C, R, w)
	if m == 0 || C == 0 || th.linearDirect(false, dx, dy, m, w, accumulate) {
		return
	}
	beta := betaOf(accumulate)
	tr := tileRows(R, C)
	buf := getF32(tr * C)
	for r0 := 0; r0 < R; r0 += tr {
		r1 := min(R, r0+tr)
		th.decodeParallel(w, r0, r1, 0, C, buf.s)
		th.Gemm(false, false, m, C, r1-r0, 1, dy[r0:], R, buf.s, C, beta, dx, C)
		beta = 1
	}
	if R == 0 && !accumulate {
		clear(dx[:m*C])
	}
	putF32(buf)
}

// decodeParallel decodes rows [r0,r1) x cols [c0,c1) of w into dst, in parallel over rows.
func (th Threads) decodeParallel(w *Weight, r0, r1, c0, c1 int, dst []float32) {
	cw := c1 - c0
	th.ParallelFor(r1-r0, max(1, 16384/max(cw, 1)), func(lo, hi int) {
		decodeRows(w, r0+lo, r0+hi, c0, c1, dst[lo*cw:hi*cw])
	})
}
