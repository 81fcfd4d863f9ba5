//go:build !purego

package kern

import "golang.org/x/sys/cpu"

// swigluAVX2 computes dst[i] = gate[i]/(1+exp(-gate[i])) · up[i] for i < n (n a multiple of 8), eight
// lanes at a time: exp in float32 by range reduction (n = round(y·log2 e), r = y - n·ln 2 in
// two FMA steps) and a degree-6 polynomial (Cephes expf's coefficients), then an IEEE
// division. silu is within about 2 ulp of the correctly rounded value.
//
//go:noescape
func swigluAVX2(dst, gate, up *float32, n int)

// swigluBackAVX2 is SwiGLUBackward over n elements (a multiple of 8), eight lanes at a time
// in float32 with swigluAVX2's exp: s = 1/(1+exp(-g)), du = dh·g·s, dg = dh·u·s·(1+g(1-s)).
//
//go:noescape
func swigluBackAVX2(dg, du, dh, gate, up *float32, n int)

// swigluVec and swigluBackVec are the vectorised SwiGLU and its backward of this processor,
// or nil.
var (
	swigluVec     func(h, g, u []float32)
	swigluBackVec func(dg, du, dh, g, u []float32)
)

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		swigluVec = swigluBlocks
		swigluBackVec = swigluBackBlocks
	}
}

// swigluBackBlocks runs swigluBackAVX2 over whole blocks of 8 and the tail through 8-float
// buffers.
func swigluBackBlocks(dg, du, dh, g, u []float32) {
	n := len(dh)
	dg, du, g, u = dg[:n], du[:n], g[:n], u[:n]
	full := n &^ 7
	if full > 0 {
		swigluBackAVX2(&dg[0], &du[0], &dh[0], &g[0], &u[0], full)
	}
	if full == n {
		return
	}
	var tdg, tdu, tdh, tg, tu [8]float32
	copy(tdh[:], dh[full:])
	copy(tg[:], g[full:])
	copy(tu[:], u[full:])
	swigluBackAVX2(&tdg[0], &tdu[0], &tdh[0], &tg[0], &tu[0], 8)
	copy(dg[full:], tdg[:])
	copy(du[full:], tdu[:])
}

// swigluBlocks runs swigluAVX2 over whole blocks of 8 and the tail through an 8-float
// buffer, so that every element takes the same arithmetic.
func swigluBlocks(h, g, u []float32) {
	n := len(h)
	g, u = g[:n], u[:n]
	full := n &^ 7
	if full > 0 {
		swigluAVX2(&h[0], &g[0], &u[0], full)
	}
	if full == n {
		return
	}
	var tg, tu, th [8]float32
	copy(tg[:], g[full:])
	copy(tu[:], u[full:])
	swigluAVX2(&th[0], &tg[0], &tu[0], 8)
	copy(h[full:], th[:])
}
