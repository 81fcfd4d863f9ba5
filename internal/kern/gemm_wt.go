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
	gemmWT(kn, C, m, R, w.F32, bMat{f32: dy, trans: true, ld: R}, dxT, m, workers)
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

// gemmWT computes C[m,n] = Wᵀ·op(B) (C overwritten, row stride ldc) for W
// [k,m] float32 in panel layout of width kn.nr (w its storage, k a multiple
// of kn.nr): op(B) is packed block by block as in gemmBlocked, the full row
// panels of Wᵀ are read in place by kn.microPA, and a last partial one is
// packed.
func gemmWT(kn *gemmKernel, m, n, k int, w []float32, b bMat, c []float32, ldc int, workers int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleC(m, n, 0, c, ldc)
		return
	}
	workers = max(workers, 1)
	mr, nr := kn.mr, kn.nr
	mpan := (m + mr - 1) / mr
	kcb := max(nr, kn.kc/nr*nr) // depth blocks start at a row of W's panels
	ncMax := min((n+nr-1)/nr*nr, kn.nc)
	bbuf := packPool.get(ncMax * kcb)
	for jc := 0; jc < n; jc += kn.nc {
		npan := (min(kn.nc, n-jc) + nr - 1) / nr
		for pc := 0; pc < k; pc += kcb {
			kc := min(kcb, k-pc)
			bet, mode := float32(1), 1
			if pc == 0 {
				bet, mode = 0, 0
			}
			blk := gemmBlock{kn: kn, m: m, n: n, alpha: 1, beta: bet, mode: mode, c: c, ldc: ldc,
				pc: pc, kc: kc, jc: jc, bp: bbuf.s[:npan*nr*kc], b: b, aw: w}
			if workers > 1 && npan > 1 && npan*nr*kc >= 1<<15 {
				packBBlockParallel(&blk, b, npan, workers)
			} else {
				packBBlock(kn, b, n, jc, pc, kc, 0, npan, blk.bp)
			}
			if workers > 1 && int64(mpan)*int64(npan)*int64(2*mr*nr*kc) >= 1<<18 {
				blk.runParallel(workers, mpan, npan)
			} else {
				blk.run(0, mpan, 0, npan)
			}
		}
	}
	packPool.put(bbuf)
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
			dst[p*mr+i-ip*mr] = g.aw[panelIndex(g.pc+p, i, g.m, nr)]
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
