//go:build purego || !amd64

package kern

// archKernels returns no assembly Gemm kernels in the portable build.
func archKernels() []*gemmKernel { return nil }

// archSetup has no assembly helpers to install in the portable build.
func archSetup() {}

// panelDot16 is panelDot16Go in the portable build.
func panelDot16(x, p []float32, k, stride int, y []float32) { panelDot16Go(x, p, k, stride, y) }

// panelDot32 has no portable version: panelGemv takes 16 columns at a time.
func panelDot32(x, p []float32, k int, y []float32) bool { return false }
