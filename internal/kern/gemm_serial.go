package kern

// GemmSerial is Gemm on the calling goroutine only: for callers that already
// split their work over goroutines (attention runs one head per worker) and
// must not start more.
func GemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if fastKernel != nil && m >= fastMinM && alpha != 0 && k != 0 {
		gemmBlocked(fastKernel, transA, m, n, k, alpha, a, lda, bMat{f32: b, trans: transB, ld: ldb}, beta, c, ldc, false)
		return
	}
	gemmPacked(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, false)
}

// KernelName names the GEMM micro-kernel chosen for this CPU at start-up
// ("avx2-fma", or "purego" for the portable Go code).
func KernelName() string {
	if fastKernel != nil {
		return "avx2-fma"
	}
	return "purego"
}
