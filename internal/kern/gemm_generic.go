//go:build purego || !amd64

package kern

// archKernels returns no assembly Gemm kernels in the portable build.
func archKernels() []*gemmKernel { return nil }

// archSetup has no assembly helpers to install in the portable build.
func archSetup() {}
