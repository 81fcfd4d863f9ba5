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

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		fastKernel = kernAVX2
	}
}
