//go:build !purego

package kern

import "golang.org/x/sys/cpu"

//go:generate go run gen_avx512.go gemm_avx512_amd64.s

// sgemmKern6x16 is the AVX2/FMA micro-kernel: with acc[i][j] = Σ_p
// a[p*6+i]·b[p*16+j] over kc >= 1 steps it stores into the 6x16 tile of C at
// c (row stride ldc floats) alpha·acc (mode 0), alpha·acc + C (mode 1) or
// alpha·acc + beta·C (mode 2). a holds 6·kc floats, b 16·kc.
//
//go:noescape
func sgemmKern6x16(kc int, a, b, c *float32, ldc int, alpha, beta float32, mode int)

// sgemmKern12x32 is the AVX-512F micro-kernel of a 12x32 tile (24 ZMM
// accumulators), contract as sgemmKern6x16.
//
//go:noescape
func sgemmKern12x32(kc int, a, b, c *float32, ldc int, alpha, beta float32, mode int)

// sgemmKern6x64 is the AVX-512F micro-kernel of a 6x64 tile.
//
//go:noescape
func sgemmKern6x64(kc int, a, b, c *float32, ldc int, alpha, beta float32, mode int)

// sgemmKern12x32P is sgemmKern12x32 with A read in place from a weight in
// panel layout of width 32: A value (i, p) at a[(p/32)·ps + i·32 + p%32], kc
// a multiple of 32.
//
//go:noescape
func sgemmKern12x32P(kc int, a, b, c *float32, ldc int, alpha, beta float32, mode int, ps int)

// asmMicroPA wraps an assembly micro-kernel that reads A in place from panels
// of width nr behind slice bounds checks.
func asmMicroPA(mr, nr int, f func(kc int, a, b, c *float32, ldc int, alpha, beta float32, mode int, ps int)) microPanelKernel {
	return func(kc int, a []float32, ps int, b, c []float32, ldc int, alpha, beta float32, mode int) {
		if kc%nr != 0 || ps < mr*nr {
			panic("kern: gemm: panel micro-kernel depth or stride")
		}
		_ = a[(kc/nr-1)*ps+mr*nr-1]
		_ = b[kc*nr-1]
		_ = c[(mr-1)*ldc+nr-1]
		f(kc, &a[0], &b[0], &c[0], ldc, alpha, beta, mode, ps)
	}
}

// asmMicro wraps an assembly micro-kernel of an mr x nr tile behind slice
// bounds checks.
func asmMicro(mr, nr int, f func(kc int, a, b, c *float32, ldc int, alpha, beta float32, mode int)) microKernel {
	return func(kc int, a, b, c []float32, ldc int, alpha, beta float32, mode int) {
		_ = a[kc*mr-1]
		_ = b[kc*nr-1]
		_ = c[(mr-1)*ldc+nr-1]
		f(kc, &a[0], &b[0], &c[0], ldc, alpha, beta, mode)
	}
}

// The assembly variants. Blocking for AVX-512 (2-core Zen 5, 48 KiB L1d,
// 1 MiB L2): a 12x32 tile walks a kc = 512 deep B micro-panel (64 KiB,
// streamed from L2 at 128 bytes per 24 FMAs) against A micro-panels of the
// mc x kc block (768 KiB) in L2; mc = 384 keeps a 4 x 96-token batch in one
// row block, so that B panels are packed by the worker that uses them (see
// gemmBlocked). Per core kc 128..512 x mc 96..384 measured within ±3% of each
// other, but on two workers kc = 512 beats 256 by 5-9% on the products with
// depth >= 1024 (1024^3: 351-353 against 321-326 GFLOP/s; 384x3072x1024:
// 338-362 against 315-343; 2026-12-03): half the passes over C and half the
// parallel steps.
// AVX2 (tuned on a 2-core Zen 4, 32 KiB L1d, 2 MiB L2): kc 256 / mc 144.
var (
	kernAVX512 = &gemmKernel{name: "avx512", mr: 12, nr: 32, kc: 512, mc: 384, nc: 4096,
		micro: asmMicro(12, 32, sgemmKern12x32), microPA: asmMicroPA(12, 32, sgemmKern12x32P)}
	kernAVX512x64 = &gemmKernel{name: "avx512-6x64", mr: 6, nr: 64, kc: 128, mc: 192, nc: 4096,
		micro: asmMicro(6, 64, sgemmKern6x64)}
	kernAVX2 = &gemmKernel{name: "avx2-fma", mr: 6, nr: 16, kc: 256, mc: 144, nc: 4096,
		micro: asmMicro(6, 16, sgemmKern6x16)}
)

// archKernels returns the assembly Gemm kernels this CPU supports, best
// first (x/sys/cpu's HasAVX512F includes the OS's support of ZMM state).
func archKernels() []*gemmKernel {
	var ks []*gemmKernel
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		return nil
	}
	if cpu.X86.HasAVX512F {
		ks = append(ks, kernAVX512, kernAVX512x64)
	}
	return append(ks, kernAVX2)
}

// packBT8F32 transposes 8 rows of op(B)ᵀ (src, row stride ld) by 8·n8
// columns into packed panel rows: dst[p*ds+r] = src[r*ld+p].
//
//go:noescape
func packBT8F32(src *float32, ld int, dst *float32, n8, ds int)

// packBT8BF16 is packBT8F32 for bfloat16 sources, widening on the way.
//
//go:noescape
func packBT8BF16(src *uint16, ld int, dst *float32, n8, ds int)

// packBT8F16 is packBT8F32 for IEEE half sources (F16C VCVTPH2PS).
//
//go:noescape
func packBT8F16(src *uint16, ld int, dst *float32, n8, ds int)

// packBN16BF16 widens kc rows of 16 bfloat16 (row stride ld) into
// dst[p*ds+j].
//
//go:noescape
func packBN16BF16(src *uint16, ld int, dst *float32, kc, ds int)

// packBN16F16 is packBN16BF16 for IEEE half sources.
//
//go:noescape
func packBN16F16(src *uint16, ld int, dst *float32, kc, ds int)

// packBNF32 copies kc rows of 16·n16 floats (row stride ld, n16 1 or 2) into
// dst[p*ds+j].
//
//go:noescape
func packBNF32(src *float32, ld int, dst *float32, kc, ds, n16 int)

// packAT12F32 copies kc rows of 12 floats (row stride ld) into dst[p*12+i].
//
//go:noescape
func packAT12F32(src *float32, ld int, dst *float32, kc int)

// dotAVX2 returns Σ x[i]·y[i] over n >= 0 elements (four 8-wide FMA sums).
//
//go:noescape
func dotAVX2(x, y *float32, n int) float32

// axpyAVX2 computes y[i] += alpha·x[i] over n >= 0 elements.
//
//go:noescape
func axpyAVX2(alpha float32, x, y *float32, n int)

// panelDot16AVX2 computes y[j] = Σ_{q<k} x[q]·p[q*stride+j] for j < 16 (k >= 1).
//
//go:noescape
func panelDot16AVX2(x, p *float32, k, stride int, y *float32)

// panelDot32AVX2 computes y[j] = Σ_{q<k} x[q]·p[q*32+j] for j < 32 (k >= 1).
//
//go:noescape
func panelDot32AVX2(x, p *float32, k int, y *float32)

// haveAVX2 reports AVX2 and FMA, which every assembly routine here needs.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// panelDot16 computes y[j] = Σ_{q<k} x[q]·p[q*stride+j] for j < 16 (k >= 1).
func panelDot16(x, p []float32, k, stride int, y []float32) {
	if !haveAVX2 {
		panelDot16Go(x, p, k, stride, y)
		return
	}
	if k < 1 || len(x) < k || len(p) < (k-1)*stride+16 || len(y) < 16 {
		panic("kern: panel dot: operand out of range")
	}
	panelDot16AVX2(&x[0], &p[0], k, stride, &y[0])
}

// panelDot32 computes y[j] = Σ_{q<k} x[q]·p[q*32+j] for j < 32 (k >= 1), a
// whole panel of width 32 read row by row; it reports false, having done
// nothing, without AVX2.
func panelDot32(x, p []float32, k int, y []float32) bool {
	if !haveAVX2 {
		return false
	}
	if k < 1 || len(x) < k || len(p) < k*32 || len(y) < 32 {
		panic("kern: panel dot: operand out of range")
	}
	panelDot32AVX2(&x[0], &p[0], k, &y[0])
	return true
}

// checkT8 checks the extents that an 8-row transposing packer touches.
func checkT8(srcLen, ld, dstLen, n8, ds int) {
	if n8 < 1 || ds < 8 || srcLen < 7*ld+8*n8 || dstLen < (8*n8-1)*ds+8 {
		panic("kern: pack: panel out of range")
	}
}

func checkN16(srcLen, ld, dstLen, kc, ds int) {
	if kc < 1 || ds < 16 || srcLen < (kc-1)*ld+16 || dstLen < (kc-1)*ds+16 {
		panic("kern: pack: panel out of range")
	}
}

// archSetup installs the AVX2 dot/axpy and packers where the CPU has them.
func archSetup() {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		return
	}
	dotK = func(x, y []float32) float32 {
		if len(x) == 0 {
			return 0
		}
		y = y[:len(x)]
		return dotAVX2(&x[0], &y[0], len(x))
	}
	axpyK = func(alpha float32, x, y []float32) {
		if len(x) == 0 {
			return
		}
		y = y[:len(x)]
		axpyAVX2(alpha, &x[0], &y[0], len(x))
	}
	packT8F32 = asmPacker(packBT8F32, checkT8)
	packNF32 = func(src []float32, ld int, dst []float32, kc, ds, n int) {
		if n != 16 && n != 32 || kc < 1 || ds < n || len(src) < (kc-1)*ld+n || len(dst) < (kc-1)*ds+n {
			panic("kern: pack: panel out of range")
		}
		packBNF32(&src[0], ld, &dst[0], kc, ds, n/16)
	}
	packAT12 = func(src []float32, ld int, dst []float32, kc int) {
		if kc < 1 || len(src) < (kc-1)*ld+12 || len(dst) < 12*kc {
			panic("kern: pack: panel out of range")
		}
		packAT12F32(&src[0], ld, &dst[0], kc)
	}
	packT8Half[BF16] = asmPacker(packBT8BF16, checkT8)
	packN16Half[BF16] = asmPacker(packBN16BF16, checkN16)
	if cpu.X86.HasF16C {
		packT8Half[F16] = asmPacker(packBT8F16, checkT8)
		packN16Half[F16] = asmPacker(packBN16F16, checkN16)
	}
}

// asmPacker wraps an assembly packer (source element E) behind check, the
// extents it touches.
func asmPacker[E float32 | uint16](f func(src *E, ld int, dst *float32, n, ds int), check func(srcLen, ld, dstLen, n, ds int)) func(src []E, ld int, dst []float32, n, ds int) {
	return func(src []E, ld int, dst []float32, n, ds int) {
		check(len(src), ld, len(dst), n, ds)
		f(&src[0], ld, &dst[0], n, ds)
	}
}
