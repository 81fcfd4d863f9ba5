// Package reftest holds the float64 references that the tests of the kernels (internal/kern)
// and of the training ops (train) check against: the equations of the decoder layer as
// Hugging Face transformers computes them, written in the plainest loops, and the central
// finite differences that check every backward pass. Only tests import it.
package reftest

import "math"

// RMSNorm is transformers' LlamaRMSNorm: each run of n values of x becomes
// w · x / sqrt(mean(x²) + eps).
func RMSNorm(x, w []float64, n int, eps float64) []float64 {
	y := make([]float64, len(x))
	for r := 0; r+n <= len(x); r += n {
		var ss float64
		for _, v := range x[r : r+n] {
			ss += v * v
		}
		inv := 1 / math.Sqrt(ss/float64(n)+eps)
		for i := range n {
			y[r+i] = x[r+i] * inv * w[i]
		}
	}
	return y
}

// Rope is transformers' rotate-half rotary embedding of x [tokens, heads·d] at the tokens'
// positions, with inverse frequencies inv (d/2 of them): per head, x·cos + rotate_half(x)·sin.
// The angle is the float32 product position·inv, as transformers computes it (inv_freq @
// position_ids in float32); at position 4000 its rounding alone moves it by up to 1.2e-4 rad.
func Rope(x []float64, inv []float32, positions []int32, heads, d int) []float64 {
	y := make([]float64, len(x))
	half := d / 2
	for t, p := range positions {
		for h := range heads {
			o := (t*heads + h) * d
			for i := range half {
				ang := float64(float32(p) * inv[i])
				c, s := math.Cos(ang), math.Sin(ang)
				x1, x2 := x[o+i], x[o+half+i]
				y[o+i] = x1*c - x2*s
				y[o+half+i] = x2*c + x1*s
			}
		}
	}
	return y
}

// SwiGLU is the gated activation of the MLP: silu(g) · u.
func SwiGLU(g, u []float64) []float64 {
	h := make([]float64, len(g))
	for i := range g {
		h[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
	}
	return h
}

// Dot is Σ a·b: the scalar loss of an output a under fixed weights b, whose gradient with
// respect to a is b.
func Dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// NumGrad is the central finite-difference gradient of f with respect to x, which f reads:
// each value is moved by ±1e-6·max(1, |value|), then restored.
func NumGrad(x []float64, f func() float64) []float64 {
	g := make([]float64, len(x))
	for i, v := range x {
		h := 1e-6 * math.Max(1, math.Abs(v))
		x[i] = v + h
		up := f()
		x[i] = v - h
		g[i] = (up - f()) / (2 * h)
		x[i] = v
	}
	return g
}
