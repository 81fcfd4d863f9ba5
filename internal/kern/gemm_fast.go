package kern

import (
	"fmt"
	"math"
)

// bMat is op(B) as stored: float32 (f32) or raw half-precision bits (half,
// dt BF16 or F16), read as b[p*ld+j], or b[j*ld+p] when trans; with panel >
// 0, f32 is a Weight in panel layout of that width (panel.go), ld its Cols.
//
// It may be stacked from two sources: a second, float32 one (f2, row stride
// ld2, the same layout as the first) supplies the columns of op(B) from at on
// (split == splitCols: column j is column j-at of f2) or its rows from at on
// (split == splitRows: row p is row p-at of f2). Packed column panels never
// straddle a column seam (gemmBlocked's callers keep at a multiple of the
// kernel's nr); panels packed across a row seam take each part from its own
// source.
type bMat struct {
	f32   []float32
	half  []uint16
	dt    DType
	trans bool
	ld    int
	panel int

	f2    []float32
	ld2   int
	at    int
	split uint8
}

// Seams of a stacked bMat.
const (
	splitNone = iota
	splitCols // op(B) = [B₀ | B₁]: columns [0,at) from the first source, the rest from f2
	splitRows // op(B) = [B₀ ; B₁]: rows [0,at) from the first source, the rest from f2
)

// second returns the second source of a stacked bMat as a plain one.
func (b bMat) second() bMat { return bMat{f32: b.f2, trans: b.trans, ld: b.ld2} }

// gemmSplit describes the other operands of a stacked product (zero: none).
// With a2 set, op(A) (not transposed) is [A₀ | A₁] along k: columns [0,kAt)
// from a, the rest from a2 (row stride lda2); op(B) must then be split by rows
// at the same kAt. With c2 set, columns [cAt,n) of C live in c2 (row stride
// ldc2, column j-cAt) instead of c, and are overwritten (beta applies to c
// only: C₂ = alpha·op(A)·op(B₁)); cAt must be a multiple of the kernel's nr.
type gemmSplit struct {
	a2   []float32
	lda2 int
	kAt  int
	c2   []float32
	ldc2 int
	cAt  int
	// aw, if set, is W [k,m] float32 in panel layout of width kn.nr, k a
	// multiple of it: op(A) = Wᵀ, read in place by kn.microPA (the last,
	// partial row panel packed), a unused (backwardWT).
	aw []float32
}

// packBPanelSeg is packBPanel over a possibly stacked op(B): a panel beyond a
// column seam reads the second source; one across a row seam is packed from
// both sources, each into its own rows of dst.
func packBPanelSeg(nr int, b bMat, p0, kc, j0, cols int, dst []float32) {
	switch b.split {
	case splitCols:
		if j0 >= b.at {
			packBPanel(nr, b.second(), p0, kc, j0-b.at, cols, dst)
			return
		}
		if j0+cols > b.at {
			panic("kern: gemm: packed panel straddles a column seam")
		}
	case splitRows:
		switch {
		case p0 >= b.at:
			packBPanel(nr, b.second(), p0-b.at, kc, j0, cols, dst)
			return
		case p0+kc > b.at:
			h := b.at - p0
			packBPanel(nr, b, p0, h, j0, cols, dst[:h*nr])
			packBPanel(nr, b.second(), 0, kc-h, j0, cols, dst[h*nr:])
			return
		}
	}
	packBPanel(nr, b, p0, kc, j0, cols, dst)
}

// decodeRows decodes rows [r0,r1) x columns [c0,c1) of w into dst like
// w.decodeBlock, with the assembly widening loops where available.
func decodeRows(w *Weight, r0, r1, c0, c1 int, dst []float32) {
	if (w.DType != BF16 && w.DType != F16) || packN16Half[w.DType] == nil || c1-c0 < 16 {
		w.decodeBlock(r0, r1, c0, c1, dst)
		return
	}
	widen := packN16Half[w.DType]
	cw := c1 - c0
	n16 := cw / 16
	for r := r0; r < r1; r++ {
		off := r*w.Cols + c0
		d := dst[(r-r0)*cw : (r-r0+1)*cw]
		// Contiguous halves read as n16 "rows" of 16 with stride 16.
		widen(w.Half[off:off+n16*16], 16, d, n16, 16)
		if n16*16 < cw {
			w.decodeBlock(r, r+1, c0+n16*16, c1, d[n16*16:])
		}
	}
}

// gemmBlocked computes C = alpha·op(A)·op(B) + beta·C (shapes as in Gemm,
// already checked) with the packed Gemm variant kn, over all processors when
// parallel is set. beta == 0 ignores the old C. It allocates nothing in
// steady state: the packed panels and the edge tile come from pools, and the
// parallel steps run on a pool of workers (gemm_parallel.go).
func gemmBlocked(kn *gemmKernel, transA bool, m, n, k int, alpha float32, a []float32, lda int, b bMat, beta float32, c []float32, ldc int, workers int) {
	gemmBlockedSplit(kn, transA, m, n, k, alpha, a, lda, b, beta, c, ldc, workers, gemmSplit{})
}

// gemmBlockedSplit is gemmBlocked of a stacked product (see bMat and
// gemmSplit): op(A) and op(B) concatenated along k, or op(B) and C along n,
// so that the shared operand is packed once for both parts.
func gemmBlockedSplit(kn *gemmKernel, transA bool, m, n, k int, alpha float32, a []float32, lda int, b bMat, beta float32, c []float32, ldc int, workers int, sp gemmSplit) {
	if m == 0 || n == 0 {
		return
	}
	if sp.c2 != nil && (sp.cAt%kn.nr != 0 || b.split != splitCols || b.at != sp.cAt) ||
		sp.a2 != nil && (transA || b.split != splitRows || b.at != sp.kAt) ||
		sp.aw != nil && (transA || kn.microPA == nil || k%kn.nr != 0) {
		panic("kern: gemm: inconsistent stacked operands")
	}
	if alpha == 0 || k == 0 {
		if sp.c2 != nil {
			scaleC(m, min(n, sp.cAt), beta, c, ldc)
			scaleC(m, max(n-sp.cAt, 0), 0, sp.c2, sp.ldc2)
		} else {
			scaleC(m, n, beta, c, ldc)
		}
		return
	}
	workers = max(workers, 1)
	mr, nr := kn.mr, kn.nr
	mpan := (m + mr - 1) / mr
	// Near-equal depth blocks of at most kn.kc (k = kc+1 gives two halves,
	// not a block of one).
	nkb := (k + kn.kc - 1) / kn.kc
	kcb := (k + nkb - 1) / nkb
	if P := b.panel; P > 0 && !b.trans && kcb%P != 0 && kcb+P-kcb%P <= kn.kc {
		kcb += P - kcb%P // depth blocks start at a row of W's panels
	}
	if sp.aw != nil && kcb%nr != 0 {
		kcb += nr - kcb%nr // depth blocks start at a row of the panels of op(A)ᵀ
	}
	ncMax := min((n+nr-1)/nr*nr, kn.nc)
	bbuf := packPool.get(ncMax * kcb)
	for jc := 0; jc < n; jc += kn.nc {
		nc := min(kn.nc, n-jc)
		npan := (nc + nr - 1) / nr
		for pc := 0; pc < k; pc += kcb {
			kc := min(kcb, k-pc)
			bp := bbuf.s[:npan*nr*kc]
			bet, mode, mode2 := float32(1), 1, 1
			if pc == 0 {
				bet, mode, mode2 = beta, betaMode(beta), 0
			}
			blk := gemmBlock{kn: kn, transA: transA, m: m, n: n, alpha: alpha, beta: bet, mode: mode, mode2: mode2,
				a: a, lda: lda, c: c, ldc: ldc, pc: pc, kc: kc, jc: jc, bp: bp, b: b, sp: sp}
			par := workers > 1 && int64(mpan)*int64(npan)*int64(2*mr*nr*kc) >= 1<<18
			if mpan <= kn.mc/mr && (!par || npan >= mpan) {
				// One row block of op(A), column panels split over the
				// workers: each B panel is packed by the worker that runs
				// it, just before use (still in cache, and no barrier after
				// packing).
				blk.packB = true
				if par {
					blk.runParallel(workers, mpan, npan)
				} else {
					blk.run(0, mpan, 0, npan)
				}
				continue
			}
			if workers > 1 && npan > 1 && npan*nr*kc >= 1<<15 {
				packBBlockParallel(&blk, b, npan, workers)
			} else {
				packBBlock(kn, b, n, jc, pc, kc, 0, npan, bp)
			}
			if !par {
				blk.run(0, mpan, 0, npan)
			} else {
				blk.runParallel(workers, mpan, npan)
			}
		}
	}
	packPool.put(bbuf)
}

// packBBlock packs column panels [jp0,jp1) of the op(B) block at columns
// jc.., depth pc..pc+kc into bp (panel jp at bp[jp*nr*kc:]).
func packBBlock(kn *gemmKernel, b bMat, n, jc, pc, kc, jp0, jp1 int, bp []float32) {
	nr := kn.nr
	if b.trans { // each panel reads nr contiguous rows of b
		for jp := jp0; jp < jp1; jp++ {
			j0 := jc + jp*nr
			if b.panelDirect(nr, pc, kc, j0) != nil {
				continue // read in place
			}
			packBPanelSeg(nr, b, pc, kc, j0, min(nr, n-j0), bp[jp*nr*kc:(jp+1)*nr*kc])
		}
		return
	}
	// Row-major b: walk bands of rows across all panels so that each row is
	// read as one run rather than one page per panel row (a panel alone
	// touches kc pages when ld >= 1024). From panel layout, a band is the
	// panel width: then the band reads whole 8x8-transposed tiles in storage
	// order.
	band := 16
	if b.panel > 0 {
		band = b.panel
	}
	for p := 0; p < kc; {
		pk := min(band, kc-p)
		if b.panel > 0 {
			pk = min(b.panel-(pc+p)%b.panel, kc-p) // to the next row of panels
		}
		for jp := jp0; jp < jp1; jp++ {
			j0 := jc + jp*nr
			off := jp*nr*kc + p*nr
			packBPanelSeg(nr, b, pc+p, pk, j0, min(nr, n-j0), bp[off:off+pk*nr])
		}
		p += pk
	}
}

// gemmBlock is one (jc, pc) step of gemmBlocked: the packed op(B) block bp
// (columns jc.., depth pc..pc+kc) against all rows of op(A).
type gemmBlock struct {
	kn          *gemmKernel
	transA      bool
	m, n        int
	alpha, beta float32
	mode        int
	mode2       int // store mode of the columns in sp.c2 (0 or 1: those ignore beta)
	a           []float32
	lda         int
	c           []float32
	ldc         int
	pc, kc, jc  int
	bp          []float32
	b           bMat      // op(B) as stored
	sp          gemmSplit // the other operands' seams, if stacked
	packB       bool      // pack each B panel into bp in tiles, before its use
}

// run computes row panels [ip0,ip1) x column panels [jp0,jp1) of the block
// on the calling goroutine.
func (g *gemmBlock) run(ip0, ip1, jp0, jp1 int) {
	mr := g.kn.mr
	// Cut [ip0,ip1) into near-equal chunks of at most mc/mr panels.
	mcp := g.kn.mc / mr
	np := ip1 - ip0
	nchunks := (np + mcp - 1) / mcp
	per := (np + nchunks - 1) / nchunks
	abuf := packPool.get(per * mr * g.kc)
	tile := getF32(mr * g.kn.nr)
	for ic := ip0; ic < ip1; ic += per {
		icEnd := min(ip1, ic+per)
		g.packA(ic, icEnd, abuf.s)
		g.tiles(ic, icEnd, jp0, jp1, abuf.s, tile.s)
	}
	putF32(tile)
	packPool.put(abuf)
}

// packA packs row panels [ic,icEnd) of op(A) (depth pc..pc+kc) into abuf.
func (g *gemmBlock) packA(ic, icEnd int, abuf []float32) {
	kc, mr := g.kc, g.kn.mr
	for ip := ic; ip < icEnd; ip++ {
		r0 := ip * mr
		dst := abuf[(ip-ic)*mr*kc : (ip-ic+1)*mr*kc]
		rows := min(mr, g.m-r0)
		if g.sp.aw != nil {
			if rows < mr {
				g.packAW(ip, dst)
			}
			continue
		}
		if g.sp.a2 == nil || g.pc+kc <= g.sp.kAt {
			packAPanel(mr, g.transA, g.a, g.lda, r0, rows, g.pc, kc, dst)
			continue
		}
		// op(A) stacked along k: the depth range may cross the seam.
		at := g.sp.kAt
		if g.pc >= at {
			packAPanel(mr, false, g.sp.a2, g.sp.lda2, r0, rows, g.pc-at, kc, dst)
			continue
		}
		h := at - g.pc
		packAPanel(mr, false, g.a, g.lda, r0, rows, g.pc, h, dst[:h*mr])
		packAPanel(mr, false, g.sp.a2, g.sp.lda2, r0, rows, 0, kc-h, dst[h*mr:])
	}
}

// packGroup is how many B panels tiles packs at a time when it packs them
// itself: longer runs over the rows of b for the hardware prefetcher, while
// the group (4·nr·kc floats) stays in L2 beside the A block.
const packGroup = 4

// tiles runs the micro-kernel over row panels [ic,icEnd) (packed in abuf) x
// column panels [jp0,jp1), through the scratch tile at the edges of C.
func (g *gemmBlock) tiles(ic, icEnd, jp0, jp1 int, abuf, tile []float32) {
	kc, mr, nr, micro := g.kc, g.kn.mr, g.kn.nr, g.kn.micro
	packed := jp0 // with packB, panels [jp0,packed) are packed (or read in place)
	for jp := jp0; jp < jp1; jp++ {
		j0 := g.jc + jp*nr
		nw := min(nr, g.n-j0)
		bpan := g.b.panelDirect(nr, g.pc, kc, j0)
		if bpan == nil {
			bpan = g.bp[jp*nr*kc : (jp+1)*nr*kc]
			if g.packB && jp >= packed {
				packed = min(jp1, jp+packGroup)
				packBBlock(g.kn, g.b, g.n, g.jc, g.pc, kc, jp, packed, g.bp)
			}
		}
		c, ldc, jl := g.c, g.ldc, j0 // the panel's destination
		beta, mode := g.beta, g.mode
		if g.sp.c2 != nil && j0 >= g.sp.cAt {
			c, ldc, jl = g.sp.c2, g.sp.ldc2, j0-g.sp.cAt
			beta, mode = 1, g.mode2
		}
		for ip := ic; ip < icEnd; ip++ {
			r0 := ip * mr
			mw := min(mr, g.m-r0)
			full := mw == mr && nw == nr
			dst, ld, bt, md := tile, nr, float32(0), 0 // an edge tile goes through scratch
			if full {
				dst, ld, bt, md = c[r0*ldc+jl:], ldc, beta, mode
			}
			if g.sp.aw != nil && mw == mr { // op(A) read in place
				ps := g.m * nr
				g.kn.microPA(kc, g.sp.aw[g.pc/nr*ps+r0*nr:], ps, bpan, dst, ld, g.alpha, bt, md)
			} else {
				micro(kc, abuf[(ip-ic)*mr*kc:(ip-ic+1)*mr*kc], bpan, dst, ld, g.alpha, bt, md)
			}
			if full {
				continue
			}
			for ii := 0; ii < mw; ii++ {
				crow := c[(r0+ii)*ldc+jl : (r0+ii)*ldc+jl+nw]
				t := tile[ii*nr : ii*nr+nw]
				switch mode {
				case 0:
					copy(crow, t)
				case 1:
					for jj, v := range t {
						crow[jj] += v
					}
				default:
					for jj, v := range t {
						crow[jj] = beta*crow[jj] + v
					}
				}
			}
		}
	}
}

// packAPanel packs rows [r0,r0+rows) x columns [p0,p0+kc) of op(A) into dst
// as kc groups of mr values (rows >= rows are zero).
func packAPanel(mr int, trans bool, a []float32, lda, r0, rows, p0, kc int, dst []float32) {
	dst = dst[:mr*kc]
	if rows < mr {
		clear(dst)
	}
	if trans {
		switch {
		case rows == 12 && mr == 12 && packAT12 != nil:
			packAT12(a[p0*lda+r0:], lda, dst, kc)
		case rows == 12 && mr == 12:
			for p := 0; p < kc; p++ {
				off := (p0+p)*lda + r0
				*(*[12]float32)(dst[p*12:]) = [12]float32(a[off : off+12])
			}
		case rows == 6 && mr == 6:
			for p := 0; p < kc; p++ {
				off := (p0+p)*lda + r0
				*(*[6]float32)(dst[p*6:]) = [6]float32(a[off : off+6])
			}
		default:
			for p := 0; p < kc; p++ {
				off := (p0+p)*lda + r0
				copy(dst[p*mr:p*mr+rows], a[off:off+rows])
			}
		}
		return
	}
	if rows == mr && mr >= 8 && kc >= 8 && packT8F32 != nil {
		// The 8x8 transposing packer over rows [h, h+8) for h = 0, 8, ...
		// and a last group ending at mr (overlapping the previous one when
		// mr is not a multiple of 8: the same values are written twice).
		n8 := kc / 8
		for h := 0; h < mr; h += 8 {
			h = min(h, mr-8)
			packT8F32(a[(r0+h)*lda+p0:], lda, dst[h:], n8, mr)
		}
		if r := kc - 8*n8; r > 0 {
			packAPanelGo(mr, a, lda, r0, rows, p0+8*n8, r, dst[8*n8*mr:])
		}
		return
	}
	packAPanelGo(mr, a, lda, r0, rows, p0, kc, dst)
}

// packAPanelGo is packAPanel of row-major op(A) in portable Go (dst already
// zeroed beyond rows).
func packAPanelGo(mr int, a []float32, lda, r0, rows, p0, kc int, dst []float32) {
	if rows == 6 && mr == 6 { // the AVX2 tile: six read streams
		s0 := a[r0*lda+p0 : r0*lda+p0+kc]
		s1 := a[(r0+1)*lda+p0 : (r0+1)*lda+p0+kc]
		s2 := a[(r0+2)*lda+p0 : (r0+2)*lda+p0+kc]
		s3 := a[(r0+3)*lda+p0 : (r0+3)*lda+p0+kc]
		s4 := a[(r0+4)*lda+p0 : (r0+4)*lda+p0+kc]
		s5 := a[(r0+5)*lda+p0 : (r0+5)*lda+p0+kc]
		for p := range s0 {
			d := dst[p*6 : p*6+6 : p*6+6]
			d[0], d[1], d[2], d[3], d[4], d[5] = s0[p], s1[p], s2[p], s3[p], s4[p], s5[p]
		}
		return
	}
	// Four rows at a time: four read streams, contiguous 4-float writes.
	ii := 0
	for ; ii+4 <= rows; ii += 4 {
		off := (r0+ii)*lda + p0
		s0 := a[off : off+kc]
		s1 := a[off+lda : off+lda+kc]
		s2 := a[off+2*lda : off+2*lda+kc]
		s3 := a[off+3*lda : off+3*lda+kc]
		for p := range s0 {
			d := dst[p*mr+ii : p*mr+ii+4 : p*mr+ii+4]
			d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
		}
	}
	for ; ii < rows; ii++ {
		src := a[(r0+ii)*lda+p0 : (r0+ii)*lda+p0+kc]
		for p, v := range src {
			dst[p*mr+ii] = v
		}
	}
}

// packBPanel packs rows [p0,p0+kc) x columns [j0,j0+cols) of op(B) into dst
// as kc groups of nr values (columns >= cols are zero), decoding half
// precision on the way, with the assembly packers where they apply (nr a
// multiple of 16).
func packBPanel(nr int, b bMat, p0, kc, j0, cols int, dst []float32) {
	if b.panel > 0 {
		packPanelSrc(nr, b, p0, kc, j0, cols, dst)
		return
	}
	if cols == nr && nr%16 == 0 {
		ld := b.ld
		if b.trans {
			if n8 := kc / 8; n8 > 0 {
				done := false
				if b.dt == F32 && packT8F32 != nil {
					for h := 0; h < nr; h += 8 {
						packT8F32(b.f32[(j0+h)*ld+p0:], ld, dst[h:], n8, nr)
					}
					done = true
				} else if (b.dt == BF16 || b.dt == F16) && packT8Half[b.dt] != nil {
					for h := 0; h < nr; h += 8 {
						packT8Half[b.dt](b.half[(j0+h)*ld+p0:], ld, dst[h:], n8, nr)
					}
					done = true
				}
				if done {
					if r := kc - 8*n8; r > 0 {
						packBPanelGo(nr, b, p0+8*n8, r, j0, cols, dst[8*n8*nr:])
					}
					return
				}
			}
		} else if b.dt == F32 && packNF32 != nil && (nr == 16 || nr == 32) {
			packNF32(b.f32[p0*ld+j0:], ld, dst, kc, nr, nr)
			return
		} else if (b.dt == BF16 || b.dt == F16) && packN16Half[b.dt] != nil {
			for h := 0; h < nr; h += 16 {
				packN16Half[b.dt](b.half[p0*ld+j0+h:], ld, dst[h:], kc, nr)
			}
			return
		}
	}
	packBPanelGo(nr, b, p0, kc, j0, cols, dst)
}

// packBPanelGo is packBPanel in portable Go.
func packBPanelGo(nr int, b bMat, p0, kc, j0, cols int, dst []float32) {
	dst = dst[:nr*kc]
	if cols < nr {
		clear(dst)
	}
	ld := b.ld
	if !b.trans {
		for p := 0; p < kc; p++ {
			off := (p0+p)*ld + j0
			d := dst[p*nr : p*nr+cols]
			switch b.dt {
			case F32:
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
				d := dst[p*nr+jj : p*nr+jj+4 : p*nr+jj+4]
				d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
			}
		}
		for ; jj < cols; jj++ {
			off := (j0+jj)*ld + p0
			for p, v := range b.f32[off : off+kc] {
				dst[p*nr+jj] = v
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
				d := dst[p*nr+jj : p*nr+jj+4 : p*nr+jj+4]
				d[0] = math.Float32frombits(uint32(s0[p]) << 16)
				d[1] = math.Float32frombits(uint32(s1[p]) << 16)
				d[2] = math.Float32frombits(uint32(s2[p]) << 16)
				d[3] = math.Float32frombits(uint32(s3[p]) << 16)
			}
		}
		for ; jj < cols; jj++ {
			off := (j0+jj)*ld + p0
			for p, h := range b.half[off : off+kc] {
				dst[p*nr+jj] = math.Float32frombits(uint32(h) << 16)
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
			dst[p*nr+jj] = F16ToF32(h)
		}
	}
}

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
