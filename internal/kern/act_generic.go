//go:build purego || !amd64

package kern

// swigluVec and swigluBackVec are nil in the portable build: SwiGLU and its backward use
// float64 arithmetic.
var (
	swigluVec     func(h, g, u []float32)
	swigluBackVec func(dg, du, dh, g, u []float32)
)
