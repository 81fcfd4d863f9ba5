package kern

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/reftest"
)

// refGemm is the textbook triple loop in float64.
func refGemm(transA, transB bool, m, n, k int, alpha float64, a []float32, lda int, b []float32, ldb int, beta float64, c []float32, ldc int) []float64 {
	out := to64(c)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			old := out[i*ldc+j]
			if beta == 0 {
				old = 0
			}
			out[i*ldc+j] = alpha*s + beta*old
		}
	}
	return out
}

func TestGemm(t *testing.T) {
	shapes := []struct{ m, n, k, pad int }{
		{1, 1, 1, 0}, {3, 5, 7, 0}, {1, 300, 129, 2}, {7, 9, 33, 1}, {8, 8, 8, 0},
		{17, 33, 65, 3}, {9, 130, 300, 0}, {70, 1030, 20, 1}, {64, 64, 257, 0},
		{2, 3000, 64, 1}, {5, 2100, 40, 0}, // small m, parallel over columns or k
	}
	scalars := []struct{ alpha, beta float32 }{{1, 0}, {0.5, 1}, {-2, 0.25}, {0, 2}}
	impls := map[string]func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int){
		"Gemm":       Gemm,
		"GemmSerial": GemmSerial,
		"packed": func(ta, tb bool, m, n, k int, al float32, a []float32, lda int, b []float32, ldb int, be float32, c []float32, ldc int) {
			gemmPacked(ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc, 2)
		},
		"packedSerial": func(ta, tb bool, m, n, k int, al float32, a []float32, lda int, b []float32, ldb int, be float32, c []float32, ldc int) {
			gemmPacked(ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc, 1)
		},
	}
	rng := newRNG(1)
	for _, sh := range shapes {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				lda := sh.k + sh.pad
				arows := sh.m
				if ta {
					lda, arows = sh.m+sh.pad, sh.k
				}
				ldb := sh.n + sh.pad
				brows := sh.k
				if tb {
					ldb, brows = sh.k+sh.pad, sh.n
				}
				ldc := sh.n + sh.pad
				a := randSlice(rng, arows*lda)
				b := randSlice(rng, brows*ldb)
				c0 := randSlice(rng, sh.m*ldc)
				for _, sc := range scalars {
					want := refGemm(ta, tb, sh.m, sh.n, sh.k, float64(sc.alpha), a, lda, b, ldb, float64(sc.beta), c0, ldc)
					for name, f := range impls {
						c := append([]float32(nil), c0...)
						if sc.beta == 0 {
							c[0] = float32(math.NaN()) // must be ignored
						}
						f(ta, tb, sh.m, sh.n, sh.k, sc.alpha, a, lda, b, ldb, sc.beta, c, ldc)
						requireClose(t, want, c, 1e-5, fmt.Sprintf("%s m=%d n=%d k=%d pad=%d tA=%v tB=%v alpha=%v beta=%v",
							name, sh.m, sh.n, sh.k, sh.pad, ta, tb, sc.alpha, sc.beta))
					}
				}
			}
		}
	}
}

func TestGemmChecksLengths(t *testing.T) {
	require.PanicsWithValue(t, "kern: gemm: len(a)=5 < 6", func() {
		Gemm(false, false, 2, 2, 3, 1, make([]float32, 5), 3, make([]float32, 6), 2, 0, make([]float32, 4), 2)
	})
	require.Panics(t, func() {
		Gemm(false, false, 2, 2, 3, 1, make([]float32, 6), 2, make([]float32, 6), 2, 0, make([]float32, 4), 2)
	})
}

func halfWeight(rng interface{ NormFloat64() float64 }, rows, cols int, dt DType) *Weight {
	w := &Weight{Rows: rows, Cols: cols, DType: dt}
	if dt == F32 {
		w.F32 = make([]float32, rows*cols)
		for i := range w.F32 {
			w.F32[i] = float32(rng.NormFloat64())
		}
		return w
	}
	w.Half = make([]uint16, rows*cols)
	for i := range w.Half {
		f := float32(rng.NormFloat64() * 0.5)
		if dt == BF16 {
			w.Half[i] = F32ToBF16(f)
		} else {
			w.Half[i] = F32ToF16(f)
		}
	}
	return w
}

// decoded returns the weight's values (exact in float32) as [Rows, Cols].
func decoded(w *Weight) []float32 {
	out := make([]float32, w.Rows*w.Cols)
	for r := 0; r < w.Rows; r++ {
		w.RowF32(r, out[r*w.Cols:(r+1)*w.Cols])
	}
	return out
}

func TestLinear(t *testing.T) {
	rng := newRNG(2)
	for _, sh := range []struct{ m, rows, cols int }{{1, 5, 7}, {3, 16, 9}, {8, 13, 31}, {37, 300, 1100}, {2, 300, 1100}, {1, 1, 1}, {20, 4096 + 5, 40}, {9, 64, 70}, {40, 96, 300}, {1, 96, 70}, {5, 64, 33}} {
		for _, w := range weightLayouts(rng, sh.rows, sh.cols) {
			require.NoError(t, w.Validate())
			W := decoded(w)
			x := randSlice(rng, sh.m*sh.cols)
			y0 := randSlice(rng, sh.m*sh.rows)
			dy := randSlice(rng, sh.m*sh.rows)
			dx0 := randSlice(rng, sh.m*sh.cols)
			for _, acc := range []bool{false, true} {
				name := fmt.Sprintf("%s m=%d [%d,%d] acc=%v", layoutName(w), sh.m, sh.rows, sh.cols, acc)
				beta := float64(btoi(acc))
				want := refGemm(false, true, sh.m, sh.rows, sh.cols, 1, x, sh.cols, W, sh.cols, beta, y0, sh.rows)
				y := append([]float32(nil), y0...)
				Linear(y, x, sh.m, w, acc)
				requireClose(t, want, y, 1e-5, "linear "+name)

				wantDx := refGemm(false, false, sh.m, sh.cols, sh.rows, 1, dy, sh.rows, W, sh.cols, beta, dx0, sh.cols)
				dx := append([]float32(nil), dx0...)
				LinearBackwardInput(dx, dy, sh.m, w, acc)
				requireClose(t, wantDx, dx, 1e-5, "linear backward "+name)
			}
		}
	}
}

// TestLinearBackwardInputGradient checks dx against finite differences of
// L = Σ (x·Wᵀ) ∘ r computed in float64.
func TestLinearBackwardInputGradient(t *testing.T) {
	rng := newRNG(3)
	for _, dt := range []DType{F32, BF16} {
		m, rows, cols := 3, 6, 5
		w := halfWeight(rng, rows, cols, dt)
		W := to64(decoded(w))
		x := to64(randSlice(rng, m*cols))
		r := randSlice(rng, m*rows)
		loss := func() float64 {
			var l float64
			for i := 0; i < m; i++ {
				for o := 0; o < rows; o++ {
					l += reftest.Dot(x[i*cols:(i+1)*cols], W[o*cols:(o+1)*cols]) * float64(r[o+i*rows])
				}
			}
			return l
		}
		dx := make([]float32, m*cols)
		LinearBackwardInput(dx, r, m, w, false)
		requireClose(t, reftest.NumGrad(x, loss), dx, 1e-5, "linear dx vs finite differences "+dt.String())
	}
}
