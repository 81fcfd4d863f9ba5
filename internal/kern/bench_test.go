package kern

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// BenchmarkGemm measures Gemm (the variant chosen for this CPU, see
// KernelName) and every packed variant the CPU supports through the same
// driver (kern/<variant>/...), against the pure-Go packed gemmPacked and
// gonum's blas32 on the 1024³ reference and transformer shapes, named MxKxN
// (m = tokens, k = in features, n = out features; transB=true is x·Wᵀ as in
// Linear; n or k = 128 are the LoRA shapes at rank 128). Run e.g.
//
//	go test ./internal/kern -run '^$' -bench 'Gemm$' -benchtime 3x -count 5
//
// (VALORA_GEMM_KERNEL=avx2-fma forces the AVX2 variant on Gemm itself.)
func BenchmarkGemm(b *testing.B) {
	for _, sz := range []struct{ m, k, n int }{{1024, 1024, 1024}, {384, 1024, 3072}, {384, 3072, 1024}, {384, 1024, 2048}, {384, 1024, 128}, {384, 128, 1024}, {384, 1024, 32768}} {
		rng := rand.New(rand.NewPCG(1, 2))
		a := randSlice(rng, sz.m*sz.k)
		bb := randSlice(rng, sz.n*sz.k)
		c := make([]float32, sz.m*sz.n)
		flops := 2 * float64(sz.m) * float64(sz.n) * float64(sz.k)
		for _, tb := range []bool{false, true} {
			name := fmt.Sprintf("%dx%dx%d/transB=%v", sz.m, sz.k, sz.n, tb)
			ldb := sz.n
			if tb {
				ldb = sz.k
			}
			b.Run("Gemm/"+name, func(b *testing.B) {
				for b.Loop() {
					Gemm(false, tb, sz.m, sz.n, sz.k, 1, a, sz.k, bb, ldb, 0, c, sz.n)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			if sz.n > 4096 {
				continue
			}
			for _, kv := range archKernels() {
				b.Run("kern/"+kv.name+"/"+name, func(b *testing.B) {
					for b.Loop() {
						gemmBlocked(kv, false, sz.m, sz.n, sz.k, 1, a, sz.k, bMat{f32: bb, trans: tb, ld: ldb}, 0, c, sz.n, 2)
					}
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
			if sz.m*sz.n*sz.k > 1<<29 {
				continue // the portable paths are slow: keep the run short
			}
			b.Run("packedGo/"+name, func(b *testing.B) {
				for b.Loop() {
					gemmPacked(false, tb, sz.m, sz.n, sz.k, 1, a, sz.k, bb, ldb, 0, c, sz.n, 2)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run("gonum/"+name, func(b *testing.B) {
				tr := blas.NoTrans
				if tb {
					tr = blas.Trans
				}
				A := blas32.General{Rows: sz.m, Cols: sz.k, Stride: sz.k, Data: a}
				B := blas32.General{Rows: sz.k, Cols: sz.n, Stride: ldb, Data: bb}
				if tb {
					B.Rows, B.Cols = sz.n, sz.k
				}
				C := blas32.General{Rows: sz.m, Cols: sz.n, Stride: sz.n, Data: c}
				for b.Loop() {
					blas32.Gemm(blas.NoTrans, tr, 1, A, B, 0, C)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkGemmSerial measures GemmSerial on attention-sized products (one
// head: 96 queries x 96 keys x head_dim 128, scores·V) and one token, with
// allocations reported: steady state must show 0 allocs/op.
func BenchmarkGemmSerial(b *testing.B) {
	for _, sz := range []struct {
		m, k, n int
		tb      bool
	}{{96, 128, 96, true}, {96, 96, 128, false}, {1, 1024, 1024, true}} {
		rng := rand.New(rand.NewPCG(3, 4))
		a := randSlice(rng, sz.m*sz.k)
		bb := randSlice(rng, sz.n*sz.k)
		c := make([]float32, sz.m*sz.n)
		ldb := sz.n
		if sz.tb {
			ldb = sz.k
		}
		flops := 2 * float64(sz.m) * float64(sz.n) * float64(sz.k)
		b.Run(fmt.Sprintf("%dx%dx%d/transB=%v", sz.m, sz.k, sz.n, sz.tb), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				GemmSerial(false, sz.tb, sz.m, sz.n, sz.k, 1, a, sz.k, bb, ldb, 0, c, sz.n)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkLinear measures Linear (x·Wᵀ) and LinearBackwardInput (dy·W) on
// projection shapes with f32 and bf16 weights, for a 384-token batch and for
// one token (generation). GFLOP/s counts 2·m·out·in.
func BenchmarkLinear(b *testing.B) {
	rng := newRNG(7)
	for _, sh := range []struct{ m, out, in int }{{384, 3072, 1024}, {384, 1024, 3072}, {1, 3072, 1024}} {
		for _, dt := range []DType{F32, BF16} {
			w := halfWeight(rng, sh.out, sh.in, dt)
			x := randSlice(rng, sh.m*sh.in)
			y := make([]float32, sh.m*sh.out)
			flops := 2 * float64(sh.m) * float64(sh.out) * float64(sh.in)
			name := fmt.Sprintf("%s/m=%d/%dx%d", dt, sh.m, sh.out, sh.in)
			b.Run("forward/"+name, func(b *testing.B) {
				for b.Loop() {
					Linear(y, x, sh.m, w, false)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run("backward/"+name, func(b *testing.B) {
				for b.Loop() {
					LinearBackwardInput(x, y, sh.m, w, false)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
