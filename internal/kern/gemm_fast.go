package kern

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// Blocking of the fast (BLIS-style) Gemm driver gemmBlocked. fmr x fnr is the
// register tile of the micro-kernel (12 YMM accumulators for AVX2). A packed
// op(B) block of fkc x fnc (4 MiB) is shared by the workers and stays in L3;
// each worker packs up to fmc rows of op(A) (fmc x fkc, 144 KiB) into its L2
// and streams fkc x fnr micro-panels of B (16 KiB, which with the 6 KiB A
// micro-panel fits the 32 KiB L1d) through L1. Tuned on a 2-core Zen 4 (32
// KiB L1d, 2 MiB L2 per core): kc 256 / mc 144 was the steadiest of kc
// 256..512 x mc 96..240 (±5%, within the noise of a shared machine).
const (
	fmr = 6
	fnr = 16
	fkc = 256
	fmc = 144
	fnc = 4096
)

// microKernel computes acc[i][j] = Σ_p a[p*fmr+i]·b[p*fnr+j] over kc >= 1
// steps and stores into the fmr x fnr tile of c (row stride ldc):
// alpha·acc (mode 0, old C ignored), alpha·acc + C (mode 1) or
// alpha·acc + beta·C (mode 2).
type microKernel func(kc int, a, b, c []float32, ldc int, alpha, beta float32, mode int)

// fastKernel is the assembly micro-kernel when the CPU has one (AVX2+FMA on
// amd64 without the purego tag), else nil and Gemm uses its portable paths.
var fastKernel microKernel

// dotK and axpyK are dot and axpy for the unpacked small-m Gemm and Linear
// paths: AVX2/FMA assembly where available (set at init), else the Go loops.
var (
	dotK  = dot
	axpyK = axpy
)

// Optional assembly packers of full fnr-wide op(B) panels (nil when absent;
// packBPanel then uses packBPanelGo). packT8* transpose 8 rows of the stored
// matrix (stride ld) by 8·n8 columns into dst[p*fnr+r]; packN16Half widens kc
// rows of fnr half values into dst[p*fnr+j]. Both index by DType.
var (
	packT8F32   func(src []float32, ld int, dst []float32, n8 int)
	packT8Half  [F16 + 1]func(src []uint16, ld int, dst []float32, n8 int)
	packN16Half [F16 + 1]func(src []uint16, ld int, dst []float32, kc int)
)

// microGo is the portable reference micro-kernel, used to test the driver on
// every platform.
func microGo(kc int, a, b, c []float32, ldc int, alpha, beta float32, mode int) {
	var acc [fmr][fnr]float32
	a = a[:kc*fmr]
	b = b[:kc*fnr]
	for p := 0; p < kc; p++ {
		bp := b[p*fnr : p*fnr+fnr]
		for i := 0; i < fmr; i++ {
			av := a[p*fmr+i]
			row := &acc[i]
			for j, bv := range bp {
				row[j] += av * bv
			}
		}
	}
	for i := 0; i < fmr; i++ {
		crow := c[i*ldc : i*ldc+fnr]
		for j := range crow {
			v := alpha * acc[i][j]
			switch mode {
			case 0:
				crow[j] = v
			case 1:
				crow[j] += v
			default:
				crow[j] = beta*crow[j] + v
			}
		}
	}
}

// bMat is op(B) as stored: float32 (f32) or raw half-precision bits (half,
// dt BF16 or F16), read as b[p*ld+j], or b[j*ld+p] when trans.
type bMat struct {
	f32   []float32
	half  []uint16
	dt    DType
	trans bool
	ld    int
}

// decodeRows decodes rows [r0,r1) x columns [c0,c1) of w into dst like
// w.decodeBlock, with the assembly widening loops where available.
func decodeRows(w *Weight, r0, r1, c0, c1 int, dst []float32) {
	if (w.DType != BF16 && w.DType != F16) || packN16Half[w.DType] == nil || c1-c0 < fnr {
		w.decodeBlock(r0, r1, c0, c1, dst)
		return
	}
	widen := packN16Half[w.DType]
	cw := c1 - c0
	n16 := cw / fnr
	for r := r0; r < r1; r++ {
		off := r*w.Cols + c0
		d := dst[(r-r0)*cw : (r-r0+1)*cw]
		// Contiguous halves read as n16 "rows" of fnr with stride fnr.
		widen(w.Half[off:off+n16*fnr], fnr, d, n16)
		if n16*fnr < cw {
			w.decodeBlock(r, r+1, c0+n16*fnr, c1, d[n16*fnr:])
		}
	}
}

// packPool holds the packed A and B panels of gemmBlocked (kept apart from
// f32Pool so that small scratch does not evict the large panels).
var packPool sync.Pool

func getPack(n int) *f32Buf {
	if v := packPool.Get(); v != nil {
		b := v.(*f32Buf)
		if cap(b.s) >= n {
			b.s = b.s[:n]
			return b
		}
	}
	return &f32Buf{s: make([]float32, n)}
}

func putPack(b *f32Buf) { packPool.Put(b) }

// betaMode maps beta to the micro-kernel's store mode.
func betaMode(beta float32) int {
	switch beta {
	case 0:
		return 0
	case 1:
		return 1
	}
	return 2
}

// gemmBlocked computes C = alpha·op(A)·op(B) + beta·C (shapes as in Gemm,
// already checked) with the packed micro-kernel kern, over all processors
// when parallel is set. beta == 0 ignores the old C.
func gemmBlocked(kern microKernel, transA bool, m, n, k int, alpha float32, a []float32, lda int, b bMat, beta float32, c []float32, ldc int, parallel bool) {
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	workers := 1
	if parallel {
		workers = runtime.GOMAXPROCS(0)
	}
	mpan := (m + fmr - 1) / fmr
	kcMax := min(k, fkc)
	bbuf := getPack(min((n+fnr-1)/fnr, fnc/fnr) * fnr * kcMax)
	defer putPack(bbuf)
	for jc := 0; jc < n; jc += fnc {
		nc := min(fnc, n-jc)
		npan := (nc + fnr - 1) / fnr
		for pc := 0; pc < k; pc += fkc {
			kc := min(fkc, k-pc)
			bp := bbuf.s[:npan*fnr*kc]
			// Pack the shared op(B) block; a panel is worth ~ fnr*kc copies.
			grainB := npan
			if workers > 1 {
				grainB = max(1, (1<<14)/(fnr*kc))
			}
			ParallelFor(npan, grainB, func(lo, hi int) {
				if b.trans { // each panel reads fnr contiguous rows of b
					for jp := lo; jp < hi; jp++ {
						j0 := jc + jp*fnr
						packBPanel(b, pc, kc, j0, min(fnr, n-j0), bp[jp*fnr*kc:(jp+1)*fnr*kc])
					}
					return
				}
				// Row-major b: walk bands of rows across all panels so that
				// each row is read as one run rather than one page per panel
				// row (a panel alone touches kc pages when ld >= 1024).
				const band = 16
				for p := 0; p < kc; p += band {
					pk := min(band, kc-p)
					for jp := lo; jp < hi; jp++ {
						j0 := jc + jp*fnr
						off := jp*fnr*kc + p*fnr
						packBPanel(b, pc+p, pk, j0, min(fnr, n-j0), bp[off:off+pk*fnr])
					}
				}
			})
			bet, mode := float32(1), 1
			if pc == 0 {
				bet, mode = beta, betaMode(beta)
			}
			blk := gemmBlock{kern: kern, transA: transA, m: m, n: n, alpha: alpha, beta: bet, mode: mode,
				a: a, lda: lda, c: c, ldc: ldc, pc: pc, kc: kc, jc: jc, bp: bp}
			if workers == 1 || int64(mpan)*int64(npan)*int64(2*fmr*fnr*kc) < 1<<18 {
				blk.run(0, mpan, 0, npan)
			} else {
				blk.runParallel(workers, mpan, npan)
			}
		}
	}
}

// gemmBlock is one (jc, pc) step of gemmBlocked: the packed op(B) block bp
// (columns jc.., depth pc..pc+kc) against all rows of op(A).
type gemmBlock struct {
	kern        microKernel
	transA      bool
	m, n        int
	alpha, beta float32
	mode        int
	a           []float32
	lda         int
	c           []float32
	ldc         int
	pc, kc, jc  int
	bp          []float32
}

// run computes row panels [ip0,ip1) x column panels [jp0,jp1) of the block
// on the calling goroutine.
func (g *gemmBlock) run(ip0, ip1, jp0, jp1 int) {
	// Cut [ip0,ip1) into near-equal chunks of at most fmc/fmr panels.
	np := ip1 - ip0
	nchunks := (np + fmc/fmr - 1) / (fmc / fmr)
	per := (np + nchunks - 1) / nchunks
	abuf := getPack(per * fmr * g.kc)
	tile := getF32(fmr * fnr)
	for ic := ip0; ic < ip1; ic += per {
		icEnd := min(ip1, ic+per)
		g.packA(ic, icEnd, abuf.s)
		g.tiles(ic, icEnd, jp0, jp1, abuf.s, tile.s)
	}
	putF32(tile)
	putPack(abuf)
}

// runParallel computes all mpan x npan tiles of the block on `workers`
// goroutines that claim chunks of work from atomic counters, so that a worker
// slowed down (by another process on a shared machine) takes fewer chunks.
// With more column than row panels, every worker walks the row blocks of
// op(A) in order, packs each block it still finds work in, and claims chunks
// of that block's column panels; otherwise workers claim chunks of row
// panels, pack them and run them against every column panel.
func (g *gemmBlock) runParallel(workers, mpan, npan int) {
	if npan >= mpan {
		nblk := (mpan + fmc/fmr - 1) / (fmc / fmr)
		per := (mpan + nblk - 1) / nblk
		chunk := max(1, npan/(4*workers))
		next := make([]atomic.Int64, nblk)
		ParallelFor(workers, 1, func(lo, hi int) {
			abuf := getPack(per * fmr * g.kc)
			tile := getF32(fmr * fnr)
			for b := range next {
				ctr := &next[b]
				if ctr.Load() >= int64(npan) {
					continue
				}
				ic, icEnd := b*per, min(mpan, (b+1)*per)
				g.packA(ic, icEnd, abuf.s)
				for {
					j := int(ctr.Add(int64(chunk))) - chunk
					if j >= npan {
						break
					}
					g.tiles(ic, icEnd, j, min(npan, j+chunk), abuf.s, tile.s)
				}
			}
			putF32(tile)
			putPack(abuf)
		})
		return
	}
	chunk := min(fmc/fmr, max(1, mpan/(4*workers)))
	var next atomic.Int64
	ParallelFor(workers, 1, func(lo, hi int) {
		abuf := getPack(chunk * fmr * g.kc)
		tile := getF32(fmr * fnr)
		for {
			i := int(next.Add(int64(chunk))) - chunk
			if i >= mpan {
				break
			}
			iEnd := min(mpan, i+chunk)
			g.packA(i, iEnd, abuf.s)
			g.tiles(i, iEnd, 0, npan, abuf.s, tile.s)
		}
		putF32(tile)
		putPack(abuf)
	})
}

// packA packs row panels [ic,icEnd) of op(A) (depth pc..pc+kc) into abuf.
func (g *gemmBlock) packA(ic, icEnd int, abuf []float32) {
	kc := g.kc
	for ip := ic; ip < icEnd; ip++ {
		r0 := ip * fmr
		packAPanel(g.transA, g.a, g.lda, r0, min(fmr, g.m-r0), g.pc, kc, abuf[(ip-ic)*fmr*kc:(ip-ic+1)*fmr*kc])
	}
}

// tiles runs the micro-kernel over row panels [ic,icEnd) (packed in abuf) x
// column panels [jp0,jp1), through the scratch tile at the edges of C.
func (g *gemmBlock) tiles(ic, icEnd, jp0, jp1 int, abuf, tile []float32) {
	kc := g.kc
	for jp := jp0; jp < jp1; jp++ {
		j0 := g.jc + jp*fnr
		nw := min(fnr, g.n-j0)
		bpan := g.bp[jp*fnr*kc : (jp+1)*fnr*kc]
		for ip := ic; ip < icEnd; ip++ {
			r0 := ip * fmr
			mw := min(fmr, g.m-r0)
			apan := abuf[(ip-ic)*fmr*kc : (ip-ic+1)*fmr*kc]
			if mw == fmr && nw == fnr {
				g.kern(kc, apan, bpan, g.c[r0*g.ldc+j0:], g.ldc, g.alpha, g.beta, g.mode)
				continue
			}
			g.kern(kc, apan, bpan, tile, fnr, g.alpha, 0, 0)
			for ii := 0; ii < mw; ii++ {
				crow := g.c[(r0+ii)*g.ldc+j0 : (r0+ii)*g.ldc+j0+nw]
				t := tile[ii*fnr : ii*fnr+nw]
				switch g.mode {
				case 0:
					copy(crow, t)
				case 1:
					for jj, v := range t {
						crow[jj] += v
					}
				default:
					for jj, v := range t {
						crow[jj] = g.beta*crow[jj] + v
					}
				}
			}
		}
	}
}

// packAPanel packs rows [r0,r0+rows) x columns [p0,p0+kc) of op(A) into dst
// as kc groups of fmr values (rows >= rows are zero).
func packAPanel(trans bool, a []float32, lda, r0, rows, p0, kc int, dst []float32) {
	dst = dst[:fmr*kc]
	if rows < fmr {
		clear(dst)
	}
	if trans {
		if rows == fmr {
			for p := 0; p < kc; p++ {
				off := (p0+p)*lda + r0
				*(*[fmr]float32)(dst[p*fmr:]) = [fmr]float32(a[off : off+fmr])
			}
			return
		}
		for p := 0; p < kc; p++ {
			copy(dst[p*fmr:p*fmr+rows], a[(p0+p)*lda+r0:(p0+p)*lda+r0+rows])
		}
		return
	}
	if rows == fmr {
		s0 := a[r0*lda+p0 : r0*lda+p0+kc]
		s1 := a[(r0+1)*lda+p0 : (r0+1)*lda+p0+kc]
		s2 := a[(r0+2)*lda+p0 : (r0+2)*lda+p0+kc]
		s3 := a[(r0+3)*lda+p0 : (r0+3)*lda+p0+kc]
		s4 := a[(r0+4)*lda+p0 : (r0+4)*lda+p0+kc]
		s5 := a[(r0+5)*lda+p0 : (r0+5)*lda+p0+kc]
		for p := range s0 {
			d := dst[p*fmr : p*fmr+fmr : p*fmr+fmr]
			d[0], d[1], d[2], d[3], d[4], d[5] = s0[p], s1[p], s2[p], s3[p], s4[p], s5[p]
		}
		return
	}
	for ii := 0; ii < rows; ii++ {
		src := a[(r0+ii)*lda+p0 : (r0+ii)*lda+p0+kc]
		for p, v := range src {
			dst[p*fmr+ii] = v
		}
	}
}

// packBPanel packs rows [p0,p0+kc) x columns [j0,j0+cols) of op(B) into dst
// as kc groups of fnr values (columns >= cols are zero), decoding half
// precision on the way, with the assembly packers where they apply.
func packBPanel(b bMat, p0, kc, j0, cols int, dst []float32) {
	if cols == fnr {
		ld := b.ld
		if b.trans {
			if n8 := kc / 8; n8 > 0 {
				done := false
				if b.dt == F32 && packT8F32 != nil {
					for h := 0; h < fnr; h += 8 {
						packT8F32(b.f32[(j0+h)*ld+p0:], ld, dst[h:], n8)
					}
					done = true
				} else if (b.dt == BF16 || b.dt == F16) && packT8Half[b.dt] != nil {
					for h := 0; h < fnr; h += 8 {
						packT8Half[b.dt](b.half[(j0+h)*ld+p0:], ld, dst[h:], n8)
					}
					done = true
				}
				if done {
					if r := kc - 8*n8; r > 0 {
						packBPanelGo(b, p0+8*n8, r, j0, cols, dst[8*n8*fnr:])
					}
					return
				}
			}
		} else if (b.dt == BF16 || b.dt == F16) && packN16Half[b.dt] != nil {
			packN16Half[b.dt](b.half[p0*ld+j0:], ld, dst, kc)
			return
		}
	}
	packBPanelGo(b, p0, kc, j0, cols, dst)
}

// packBPanelGo is packBPanel in portable Go.
func packBPanelGo(b bMat, p0, kc, j0, cols int, dst []float32) {
	dst = dst[:fnr*kc]
	if cols < fnr {
		clear(dst)
	}
	ld := b.ld
	if !b.trans {
		for p := 0; p < kc; p++ {
			off := (p0+p)*ld + j0
			d := dst[p*fnr : p*fnr+cols]
			switch b.dt {
			case F32:
				if cols == fnr {
					*(*[fnr]float32)(d) = [fnr]float32(b.f32[off : off+fnr])
					continue
				}
				copy(d, b.f32[off:off+cols])
			case BF16:
				for j, h := range b.half[off : off+cols] {
					d[j] = math.Float32frombits(uint32(h) << 16)
				}
			case F16:
				for j, h := range b.half[off : off+cols] {
					d[j] = F16ToF32(h)
				}
			default:
				panic(fmt.Sprintf("kern: gemm: unknown dtype %s", b.dt))
			}
		}
		return
	}
	// Transposed: column j of op(B) is the contiguous row j of b. Four rows
	// at a time keep four read streams and one write stream.
	jj := 0
	if b.dt == F32 {
		for ; jj+4 <= cols; jj += 4 {
			off := (j0+jj)*ld + p0
			s0 := b.f32[off : off+kc]
			s1 := b.f32[off+ld : off+ld+kc]
			s2 := b.f32[off+2*ld : off+2*ld+kc]
			s3 := b.f32[off+3*ld : off+3*ld+kc]
			for p := range s0 {
				d := dst[p*fnr+jj : p*fnr+jj+4 : p*fnr+jj+4]
				d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
			}
		}
		for ; jj < cols; jj++ {
			off := (j0+jj)*ld + p0
			for p, v := range b.f32[off : off+kc] {
				dst[p*fnr+jj] = v
			}
		}
		return
	}
	if b.dt == BF16 {
		for ; jj+4 <= cols; jj += 4 {
			off := (j0+jj)*ld + p0
			s0 := b.half[off : off+kc]
			s1 := b.half[off+ld : off+ld+kc]
			s2 := b.half[off+2*ld : off+2*ld+kc]
			s3 := b.half[off+3*ld : off+3*ld+kc]
			for p := range s0 {
				d := dst[p*fnr+jj : p*fnr+jj+4 : p*fnr+jj+4]
				d[0] = math.Float32frombits(uint32(s0[p]) << 16)
				d[1] = math.Float32frombits(uint32(s1[p]) << 16)
				d[2] = math.Float32frombits(uint32(s2[p]) << 16)
				d[3] = math.Float32frombits(uint32(s3[p]) << 16)
			}
		}
		for ; jj < cols; jj++ {
			off := (j0+jj)*ld + p0
			for p, h := range b.half[off : off+kc] {
				dst[p*fnr+jj] = math.Float32frombits(uint32(h) << 16)
			}
		}
		return
	}
	if b.dt != F16 {
		panic(fmt.Sprintf("kern: gemm: unknown dtype %s", b.dt))
	}
	for ; jj < cols; jj++ {
		off := (j0+jj)*ld + p0
		for p, h := range b.half[off : off+kc] {
			dst[p*fnr+jj] = F16ToF32(h)
		}
	}
}
