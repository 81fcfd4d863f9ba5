package kern

import "sync"

// The backward input product dx = dy·W of a projection whose weight is stored
// in panel layout. Taken as dy·op(B) with op(B) = W, every 32x32 block of W
// would be transposed into packed panels on every call (a tenth of a training
// step). Taken as dxᵀ = Wᵀ·dyᵀ, W is op(A) instead, and a panel of W holds,
// for each column i of W, 32 consecutive rows: the A values of row i of the
// product at 32 consecutive depths, which a micro-kernel broadcasts in place
// (microPanelKernel). Only dyᵀ, the small operand, is packed, and the [in, m]
// result is transposed into dx at the end.

// wtUsable reports whether backwardWT can take dx = dy·W with kernel kn.
func wtUsable(kn *gemmKernel, m int, w *Weight) bool {
	return kn != nil && kn.microPA != nil && m >= fastMinM && w.DType == F32 && w.Panel == kn.nr &&
		w.Rows%kn.nr == 0 && len(w.F32) >= w.Rows*w.Cols
}

// backwardWT computes dx[m,w.Cols] = dy[m,w.Rows]·W + su[m,r]·a (a [r,w.Cols]; none when
// r == 0), dx += when accumulate, for a weight that wtUsable accepts.
func backwardWT(kn *gemmKernel, dx, dy, su []float32, m int, w *Weight, a []float32, r int, accumulate bool, workers int) {
	R, C := w.Rows, w.Cols
	buf := getF32(C * m)
	dxT := buf.s[:C*m]
	gemmBlockedSplit(kn, false, C, m, R, 1, nil, 0, bMat{f32: dy, trans: true, ld: R}, 0, dxT, m, workers, gemmSplit{aw: w.F32})
	if r > 0 {
		gemmBlocked(kn, true, C, m, r, 1, a, C, bMat{f32: su, trans: true, ld: r}, 1, dxT, m, workers)
	}
	j := transposePool.Get().(*transposeJob)
	*j = transposeJob{dst: dx, src: dxT, nr: C, nc: m, accumulate: accumulate}
	parallelRows(workers, (C+7)/8, 16, j)
	*j = transposeJob{}
	transposePool.Put(j)
	putF32(buf)
}

// packAW packs row panel ip of op(A) = Wᵀ (depth pc..pc+kc, rows beyond m
// zero) from W's panels into dst, for the panels the micro-kernel cannot read
// in place (the last, partial one).
func (g *gemmBlock) packAW(ip int, dst []float32) {
	mr, nr, kc := g.kn.mr, g.kn.nr, g.kc
	dst = dst[:mr*kc]
	clear(dst)
	for i := ip * mr; i < min(g.m, (ip+1)*mr); i++ {
		for p := 0; p < kc; p++ {
			dst[p*mr+i-ip*mr] = g.sp.aw[panelIndex(g.pc+p, i, g.m, nr)]
		}
	}
}

// transposeJob adds or writes the transpose of src [rows, cols] into dst
// [cols, rows], over groups of 8 rows of src (pooled).
type transposeJob struct {
	dst, src   []float32
	nr, nc     int // src's rows and columns
	accumulate bool
}

var transposePool = sync.Pool{New: func() any { return new(transposeJob) }}

func (j *transposeJob) rows(lo, hi int) {
	R, C := j.nr, j.nc
	for i0 := lo * 8; i0 < min(R, hi*8); i0 += 8 {
		c0 := 0
		if !j.accumulate && packT8F32 != nil && i0+8 <= R && C >= 8 {
			c0 = C / 8 * 8
			packT8F32(j.src[i0*C:], C, j.dst[i0:], C/8, R)
		}
		for c := c0; c < C; c++ {
			d := j.dst[c*R+i0 : c*R+min(R, i0+8)]
			for i := range d {
				v := j.src[(i0+i)*C+c]
				if j.accumulate {
					d[i] += v
				} else {
					d[i] = v
				}
			}
		}
	}
}
