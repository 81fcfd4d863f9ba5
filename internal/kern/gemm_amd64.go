//go:build !purego

package kern

import "golang.org/x/sys/cpu"

// sgemmKern6x16 is the AVX2/FMA micro-kernel: with acc[i][j] = Σ_p
// a[p*6+i]·b[p*16+j] over kc >= 1 steps it stores into the 6x16 tile of C at
// c (row stride ldc floats) alpha·acc (mode 0), alpha·acc + C (mode 1) or
// alpha·acc + beta·C (mode 2). a holds 6·kc floats, b 16·kc.
//
//go:noescape
func sgemmKern6x16(kc int, a, b, c *float32, ldc int, alpha, beta float32, mode int)

// kernAVX2 is sgemmKern6x16 behind slice bounds checks.
func kernAVX2(kc int, a, b, c []float32, ldc int, alpha, beta float32, mode int) {
	_ = a[kc*fmr-1]
	_ = b[kc*fnr-1]
	_ = c[(fmr-1)*ldc+fnr-1]
	sgemmKern6x16(kc, &a[0], &b[0], &c[0], ldc, alpha, beta, mode)
}

// packBT8F32 transposes 8 rows of op(B)ᵀ (src, row stride ld) by 8·n8
// columns into packed panel rows: dst[p*16+r] = src[r*ld+p].
//
//go:noescape
func packBT8F32(src *float32, ld int, dst *float32, n8 int)

// packBT8BF16 is packBT8F32 for bfloat16 sources, widening on the way.
//
//go:noescape
func packBT8BF16(src *uint16, ld int, dst *float32, n8 int)

// packBT8F16 is packBT8F32 for IEEE half sources (F16C VCVTPH2PS).
//
//go:noescape
func packBT8F16(src *uint16, ld int, dst *float32, n8 int)

// packBN16BF16 widens kc rows of 16 bfloat16 (row stride ld) into dst[p*16+j].
//
//go:noescape
func packBN16BF16(src *uint16, ld int, dst *float32, kc int)

// packBN16F16 is packBN16BF16 for IEEE half sources.
//
//go:noescape
func packBN16F16(src *uint16, ld int, dst *float32, kc int)

// dotAVX2 returns Σ x[i]·y[i] over n >= 0 elements (four 8-wide FMA sums).
//
//go:noescape
func dotAVX2(x, y *float32, n int) float32

// axpyAVX2 computes y[i] += alpha·x[i] over n >= 0 elements.
//
//go:noescape
func axpyAVX2(alpha float32, x, y *float32, n int)

// checkT8 checks the extents that an 8-row transposing packer touches.
func checkT8(srcLen, ld, dstLen, n8 int) {
	if n8 < 1 || srcLen < 7*ld+8*n8 || dstLen < (8*n8-1)*fnr+8 {
		panic("kern: pack: panel out of range")
	}
}

func checkN16(srcLen, ld, dstLen, kc int) {
	if kc < 1 || srcLen < (kc-1)*ld+fnr || dstLen < kc*fnr {
		panic("kern: pack: panel out of range")
	}
}

func init() {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		return
	}
	fastKernel = kernAVX2
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
	packT8F32 = func(src []float32, ld int, dst []float32, n8 int) {
		checkT8(len(src), ld, len(dst), n8)
		packBT8F32(&src[0], ld, &dst[0], n8)
	}
	packT8Half[BF16] = func(src []uint16, ld int, dst []float32, n8 int) {
		checkT8(len(src), ld, len(dst), n8)
		packBT8BF16(&src[0], ld, &dst[0], n8)
	}
	packN16Half[BF16] = func(src []uint16, ld int, dst []float32, kc int) {
		checkN16(len(src), ld, len(dst), kc)
		packBN16BF16(&src[0], ld, &dst[0], kc)
	}
	if cpu.X86.HasF16C {
		packT8Half[F16] = func(src []uint16, ld int, dst []float32, n8 int) {
			checkT8(len(src), ld, len(dst), n8)
			packBT8F16(&src[0], ld, &dst[0], n8)
		}
		packN16Half[F16] = func(src []uint16, ld int, dst []float32, kc int) {
			checkN16(len(src), ld, len(dst), kc)
			packBN16F16(&src[0], ld, &dst[0], kc)
		}
	}
}
