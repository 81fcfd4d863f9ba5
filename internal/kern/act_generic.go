//go:build purego || !amd64

package kern

// swigluVec is nil in the portable build: SwiGLU uses the float64 silu.
var swigluVec func(h, g, u []float32)
