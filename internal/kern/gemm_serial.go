package kern

// GemmSerial is Gemm on the calling goroutine only: for callers that already
// split their work over goroutines (attention runs one head per worker) and
// must not start more. It allocates nothing in steady state (pooled packing
// buffers).
func GemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, 1)
}

// KernelName names the packed GEMM variant chosen for this CPU at start-up:
// "avx512" (AVX-512F, 12x32 tile), "avx2-fma" (6x16 tile), or "purego" for
// the portable Go code (also with the purego build tag). The environment
// variable VALORA_GEMM_KERNEL can force another variant the CPU supports.
func KernelName() string {
	if fastKernel != nil {
		return fastKernel.name
	}
	return "purego"
}
