//go:build !purego

package kern

import "golang.org/x/sys/cpu"

// adamwAVX512 is the AVX-512 AdamW chunk kernel over n elements, n a positive
// multiple of 16: the float32 operations of adamwGo (torch's lerp for a
// weight < 0.5) in the same order, each a separate correctly rounded vector
// instruction (no FMA). It returns Σ float64(g)² of the gradient as read and
// clears g when zero.
//
//go:noescape
func adamwAVX512(p, grad, m, v *float32, n int, c *adamwConsts, zero bool) float64

// adamwAVX2 is adamwAVX512 with 8-wide AVX2 vectors; n a positive multiple of 8.
//
//go:noescape
func adamwAVX2(p, grad, m, v *float32, n int, c *adamwConsts, zero bool) float64

// sumSqAVX512 returns Σ float64(x[i])² over n elements, n a positive multiple of 32.
//
//go:noescape
func sumSqAVX512(x *float32, n int) float64

// sumSqAVX2 returns Σ float64(x[i])² over n elements, n a positive multiple of
// 16 (needs FMA).
//
//go:noescape
func sumSqAVX2(x *float32, n int) float64

// adamwAsm wraps an assembly chunk kernel of vector width w (a power of two):
// it runs the whole vectors there and the tail in adamwGo.
func adamwAsm(k func(p, g, m, v *float32, n int, c *adamwConsts, zero bool) float64, w int) adamwChunkFunc {
	return func(p, g, m, v []float32, c *adamwConsts, zero bool) float64 {
		n := len(p)
		g, m, v = g[:n], m[:n], v[:n]
		body := n &^ (w - 1)
		var s float64
		if body > 0 {
			s = k(&p[0], &g[0], &m[0], &v[0], body, c, zero)
		}
		if body < n {
			s += adamwGo(p[body:], g[body:], m[body:], v[body:], c, zero)
		}
		return s
	}
}

// sumSqAsm wraps a Σ x² assembly kernel of block w (a power of two), the tail in Go.
func sumSqAsm(k func(x *float32, n int) float64, w int) func(x []float32) float64 {
	return func(x []float32) float64 {
		body := len(x) &^ (w - 1)
		var s float64
		if body > 0 {
			s = k(&x[0], body)
		}
		if body < len(x) {
			s += sumSqGo(x[body:])
		}
		return s
	}
}

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		a, s := adamwAsm(adamwAVX2, 8), sumSqAsm(sumSqAVX2, 16)
		adamwKernels = append(adamwKernels, namedAdamW{"avx2", a, s})
		adamwK, sumSqK = a, s
	}
	if cpu.X86.HasAVX512F {
		a, s := adamwAsm(adamwAVX512, 16), sumSqAsm(sumSqAVX512, 32)
		adamwKernels = append(adamwKernels, namedAdamW{"avx512", a, s})
		adamwK, sumSqK = a, s
	}
}
