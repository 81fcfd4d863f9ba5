package kern

import (
	"fmt"
	"math"
	"runtime"

	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Blocking parameters of the pure-Go packed gemmPacked (the assembly variants
// carry their own, see gemmKernel). mr x nr is the register tile of the
// micro-kernel; kcBlock x ncBlock is the packed panel of op(B) shared by the
// workers; mcBlock rows of op(A) are packed per worker at a time.
const (
	// fastMinM is the smallest m that Gemm sends to the packed assembly
	// micro-kernel; fewer rows take the unpacked dot/axpy path.
	fastMinM = 2 * mr
	mr       = 4
	nr       = 4
	kcBlock  = 256
	mcBlock  = 64
	ncBlock  = 1024
)

// Gemm computes C[m,n] = alpha * op(A) * op(B) + beta * C where op(X) is X or
// Xᵀ when trans* is set. op(A) is [m,k]: A is read as a[i*lda+p], or
// a[p*lda+i] when transA. op(B) is [k,n]: b[p*ldb+j], or b[j*ldb+p] when
// transB. ldc is C's row stride. With beta == 0 the old contents of C are
// ignored (NaNs in C do not propagate), as in BLAS.
//
// Implementation: for m < 8 (token-by-token decoding) a parallel dot/axpy path
// that needs no packing (AVX2/FMA assembly dot and axpy where available).
// Otherwise, on amd64 without the purego build tag, the BLIS-style packed
// driver gemmBlocked (gemm_fast.go) with the best assembly micro-kernel the
// CPU has, chosen at start-up (KernelName): AVX-512F with a 12x32 register
// tile, else AVX2/FMA with 6x16, parallel over th's workers on a pool of
// goroutines; elsewhere gonum's blas32.Sgemm, which beats the pure-Go packed
// gemmPacked below by about 3x, or gemmPacked when th caps the call below
// GOMAXPROCS (gonum uses every processor). Steady-state calls allocate nothing
// on the assembly paths.
func (th Threads) Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, th.workers())
}

// gemm is Gemm and GemmSerial: over all processors when parallel, else on the calling
// goroutine (the assembly driver, or the pure-Go packed gemmPacked).
func gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, workers int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if fastKernel != nil && m >= fastMinM && alpha != 0 && k != 0 {
		gemmBlocked(fastKernel, transA, m, n, k, alpha, a, lda, bMat{f32: b, trans: transB, ld: ldb}, beta, c, ldc, workers)
		return
	}
	if workers < runtime.GOMAXPROCS(0) {
		// gonum's Sgemm spreads over all processors: a capped call takes the packed Go path.
		gemmPacked(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, workers)
		return
	}
	scaleC(m, n, beta, c, ldc)
	if alpha == 0 || k == 0 {
		return
	}
	if m < 2*mr {
		gemmSmallM(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc, workers, max((1<<16)/max(m*k, 1), 1))
		return
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	ar, ac, br, bc := m, k, k, n
	if transA {
		ta, ar, ac = blas.Trans, k, m
	}
	if transB {
		tb, br, bc = blas.Trans, n, k
	}
	blas32.Gemm(ta, tb, alpha,
		blas32.General{Rows: ar, Cols: ac, Stride: lda, Data: a},
		blas32.General{Rows: br, Cols: bc, Stride: ldb, Data: b},
		1, blas32.General{Rows: m, Cols: n, Stride: ldc, Data: c})
}

// scaleC sets C = beta*C (C = 0 when beta == 0, ignoring NaNs in C).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else {
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	need := func(name string, rows, cols, ld, have int) {
		if rows == 0 || cols == 0 {
			return
		}
		if ld < cols {
			panic(fmt.Sprintf("kern: gemm: ld%s=%d < %d", name, ld, cols))
		}
		if want := (rows-1)*ld + cols; have < want {
			panic(fmt.Sprintf("kern: gemm: len(%s)=%d < %d", name, have, want))
		}
	}
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kern: gemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	if transA {
		need("a", k, m, lda, len(a))
	} else {
		need("a", m, k, lda, len(a))
	}
	if transB {
		need("b", n, k, ldb, len(b))
	} else {
		need("b", k, n, ldb, len(b))
	}
	need("c", m, n, ldc, len(c))
}

// gemmPacked is Gemm's pure-Go packed, cache-blocked implementation with an
// mr x nr register-blocked micro-kernel, parallel over row panels of C when
// parallel is set.
func gemmPacked(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, workers int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	scaleC(m, n, beta, c, ldc)
	if alpha == 0 || k == 0 {
		return
	}
	grain := func(work int) int { // items per goroutine worth ~64k flops
		if workers <= 1 {
			return math.MaxInt
		}
		g := (1 << 16) / max(work, 1)
		return max(g, 1)
	}
	if m < 2*mr {
		gemmSmallM(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc, workers, grain(m*k))
		return
	}
	for jc := 0; jc < n; jc += ncBlock {
		nc := min(ncBlock, n-jc)
		npanels := (nc + nr - 1) / nr
		for pc := 0; pc < k; pc += kcBlock {
			kc := min(kcBlock, k-pc)
			bp := getF32(npanels * nr * kc)
			bpack := bp.s
			Threads(workers).ParallelFor(npanels, grain(kc*nr/8), func(lo, hi int) {
				for jp := lo; jp < hi; jp++ {
					packB(transB, b, ldb, pc, kc, jc+jp*nr, min(nr, nc-jp*nr), bpack[jp*nr*kc:(jp+1)*nr*kc])
				}
			})
			mpanels := (m + mr - 1) / mr
			Threads(workers).ParallelFor(mpanels, grain(mr*kc*nc), func(lo, hi int) {
				ap := getF32(mcBlock * kc)
				var tile [mr * nr]float32
				for ip0 := lo; ip0 < hi; ip0 += mcBlock / mr {
					ip1 := min(hi, ip0+mcBlock/mr)
					i1 := min(m, ip1*mr)
					for ip := ip0; ip < ip1; ip++ {
						r0 := ip * mr
						packA(transA, a, lda, r0, min(mr, m-r0), pc, kc, ap.s[(ip-ip0)*mr*kc:(ip-ip0+1)*mr*kc])
					}
					for jp := 0; jp < npanels; jp++ {
						j0 := jc + jp*nr
						nw := min(nr, n-j0)
						bpan := bpack[jp*nr*kc : (jp+1)*nr*kc]
						for ip := ip0; ip < ip1; ip++ {
							r0 := ip * mr
							mw := min(mr, i1-r0)
							apan := ap.s[(ip-ip0)*mr*kc : (ip-ip0+1)*mr*kc]
							micro(kc, apan, bpan, &tile)
							if mw == mr && nw == nr {
								for ii := 0; ii < mr; ii++ {
									crow := c[(r0+ii)*ldc+j0 : (r0+ii)*ldc+j0+nr]
									t := tile[ii*nr : ii*nr+nr]
									for jj := range crow {
										crow[jj] += alpha * t[jj]
									}
								}
							} else {
								for ii := 0; ii < mw; ii++ {
									for jj := 0; jj < nw; jj++ {
										c[(r0+ii)*ldc+j0+jj] += alpha * tile[ii*nr+jj]
									}
								}
							}
						}
					}
				}
				putF32(ap)
			})
			putF32(bp)
		}
	}
}

// packA packs rows [r0,r0+rows) x cols [p0,p0+kc) of op(A) into dst as
// kc groups of mr values (rows beyond `rows` are zero).
func packA(trans bool, a []float32, lda, r0, rows, p0, kc int, dst []float32) {
	dst = dst[:mr*kc]
	if rows < mr {
		clear(dst)
	}
	if !trans {
		for ii := 0; ii < rows; ii++ {
			src := a[(r0+ii)*lda+p0 : (r0+ii)*lda+p0+kc]
			for p, v := range src {
				dst[p*mr+ii] = v
			}
		}
		return
	}
	for p := 0; p < kc; p++ {
		src := a[(p0+p)*lda+r0 : (p0+p)*lda+r0+rows]
		copy(dst[p*mr:p*mr+rows], src)
	}
}

// packB packs rows [p0,p0+kc) x cols [j0,j0+cols) of op(B) into dst as kc
// groups of nr values (columns beyond `cols` are zero).
func packB(trans bool, b []float32, ldb, p0, kc, j0, cols int, dst []float32) {
	dst = dst[:nr*kc]
	if cols < nr {
		clear(dst)
	}
	if !trans {
		for p := 0; p < kc; p++ {
			src := b[(p0+p)*ldb+j0 : (p0+p)*ldb+j0+cols]
			copy(dst[p*nr:p*nr+cols], src)
		}
		return
	}
	for jj := 0; jj < cols; jj++ {
		src := b[(j0+jj)*ldb+p0 : (j0+jj)*ldb+p0+kc]
		for p, v := range src {
			dst[p*nr+jj] = v
		}
	}
}

// micro computes the mr x nr tile = sum_p apan[p] ⊗ bpan[p] over kc steps.
func micro(kc int, a, b []float32, tile *[mr * nr]float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	a = a[:kc*mr]
	b = b[:kc*nr]
	for len(a) >= 4 && len(b) >= 4 {
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		b0 := b[0]
		c00 += a0 * b0
		c10 += a1 * b0
		c20 += a2 * b0
		c30 += a3 * b0
		b1 := b[1]
		c01 += a0 * b1
		c11 += a1 * b1
		c21 += a2 * b1
		c31 += a3 * b1
		b2 := b[2]
		c02 += a0 * b2
		c12 += a1 * b2
		c22 += a2 * b2
		c32 += a3 * b2
		b3 := b[3]
		c03 += a0 * b3
		c13 += a1 * b3
		c23 += a2 * b3
		c33 += a3 * b3
		a = a[4:]
		b = b[4:]
	}
	*tile = [mr * nr]float32{
		c00, c01, c02, c03,
		c10, c11, c12, c13,
		c20, c21, c22, c23,
		c30, c31, c32, c33,
	}
}

// gemmSmallM handles m < 2*mr (e.g. one token at a time) without packing:
// C += alpha * op(A) * op(B), parallel over columns of C (transB) or over k
// (otherwise) when grain allows, on the Gemm worker pool with pooled state,
// so that it allocates nothing in steady state.
func gemmSmallM(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, workers, grain int) {
	t := smallMPool.Get().(*smallMTask)
	t.transB, t.m, t.n, t.k, t.alpha, t.b, t.ldb, t.c, t.ldc = transB, m, n, k, alpha, b, ldb, c, ldc
	var abuf *f32Buf
	if transA { // gather the m columns of A into contiguous rows
		abuf = getF32(m * k)
		for i := 0; i < m; i++ {
			for p := 0; p < k; p++ {
				abuf.s[i*k+p] = a[p*lda+i]
			}
			t.arow[i] = abuf.s[i*k : (i+1)*k]
		}
	} else {
		for i := 0; i < m; i++ {
			t.arow[i] = a[i*lda : i*lda+k]
		}
	}
	procs := workers
	if transB {
		workers := max(1, min(procs, n/max(grain, 1)))
		t.chunk = max(1, n/(4*workers))
		t.next.Store(0)
		runWorkers(t, workers, &t.join)
	} else {
		// Split k (rows of B, read as contiguous runs) over the workers: the
		// caller accumulates into C, the others into private partial sums
		// added at the end.
		workers := max(1, min(procs, k, n/max(grain, 1)))
		t.chunk = max(1, (k+4*workers-1)/(4*workers))
		if workers == 1 {
			t.chunk = k
		}
		t.next.Store(0)
		var part *f32Buf
		if workers > 1 {
			part = getF32((workers - 1) * m * n)
			clear(part.s)
			t.part = part.s
		}
		runWorkers(t, workers, &t.join)
		if part != nil {
			for w := 1; w < workers; w++ {
				for i := 0; i < m; i++ {
					axpyK(1, part.s[(w-1)*m*n+i*n:(w-1)*m*n+(i+1)*n], c[i*ldc:i*ldc+n])
				}
			}
			putF32(part)
		}
	}
	if abuf != nil {
		putF32(abuf)
	}
	// Drop the caller's matrices; the join stays (stale messages may still read it).
	t.arow, t.b, t.c, t.part = [2 * mr][]float32{}, nil, nil, nil
	smallMPool.Put(t)
}

// smallMTask is the pooled state of one gemmSmallM call.
type smallMTask struct {
	transB  bool
	m, n, k int
	alpha   float32
	arow    [2 * mr][]float32
	b       []float32
	ldb     int
	c       []float32
	ldc     int
	part    []float32    // partial sums of workers 1.. (!transB)
	chunk   int          // columns claimed at a time (transB)
	next    atomic.Int64 // next column (transB)
	join    join
}

var smallMPool = sync.Pool{New: func() any { return new(smallMTask) }}

func (t *smallMTask) work(w int) {
	m, n, k, alpha := t.m, t.n, t.k, t.alpha
	if t.transB {
		for {
			j0 := int(t.next.Add(int64(t.chunk))) - t.chunk
			if j0 >= n {
				return
			}
			for j := j0; j < min(n, j0+t.chunk); j++ {
				brow := t.b[j*t.ldb : j*t.ldb+k]
				for i := 0; i < m; i++ {
					t.c[i*t.ldc+j] += alpha * dotK(t.arow[i], brow)
				}
			}
		}
	}
	dst, ld := t.c, t.ldc
	if w > 0 {
		dst, ld = t.part[(w-1)*m*n:w*m*n], n
	}
	// Claim chunks of k (a worker that starts late takes fewer); columns go
	// in blocks of 2048 so that the m rows of the accumulator stay in L1/L2
	// while each B row segment is used for all of them.
	const cb = 2048
	for {
		p0 := int(t.next.Add(int64(t.chunk))) - t.chunk
		if p0 >= k {
			return
		}
		p1 := min(k, p0+t.chunk)
		for j0 := 0; j0 < n; j0 += cb {
			j1 := min(n, j0+cb)
			for p := p0; p < p1; p++ {
				brow := t.b[p*t.ldb+j0 : p*t.ldb+j1]
				for i := 0; i < m; i++ {
					axpyK(alpha*t.arow[i][p], brow, dst[i*ld+j0:i*ld+j1])
				}
			}
		}
	}
}

// dot returns sum x[i]*y[i] in float32 with four partial sums.
func dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy computes y += alpha*x.
func axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}
