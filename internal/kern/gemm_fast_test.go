package kern

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGemmVariants checks that the chosen variant heads the list and that
// KernelName names it.
func TestGemmVariants(t *testing.T) {
	vs := gemmVariants()
	require.NotEmpty(t, vs)
	names := map[string]bool{}
	for _, v := range vs {
		require.False(t, names[v.name], "duplicate variant %s", v.name)
		names[v.name] = true
		require.Zero(t, v.mc%v.mr, v.name)
		require.Zero(t, v.nc%v.nr, v.name)
		require.LessOrEqual(t, v.mr, maxMR, v.name)
		require.LessOrEqual(t, v.nr, maxNR, v.name)
	}
	if fastKernel != nil {
		require.Equal(t, fastKernel.name, KernelName())
	} else {
		require.Equal(t, "purego", KernelName())
	}
	require.Contains(t, []string{"avx512", "avx512-6x64", "avx2-fma", "purego"}, KernelName())
}

// TestMicroKernel runs each micro-kernel on one tile against a float64
// reference for every store mode, including kc not a multiple of the unroll.
func TestMicroKernel(t *testing.T) {
	rng := newRNG(11)
	for _, kv := range gemmVariants() {
		name, kern, fmr, fnr := kv.name, kv.micro, kv.mr, kv.nr
		for _, kc := range []int{1, 2, 3, 4, 5, 7, 8, 9, 255, 256, 257} {
			for _, mode := range []struct {
				mode        int
				alpha, beta float32
			}{{0, 1, 0}, {0, -0.5, 0}, {1, 2, 1}, {2, 0.75, -1.5}} {
				a := randSlice(rng, kc*fmr)
				b := randSlice(rng, kc*fnr)
				ldc := fnr + 3
				c0 := randSlice(rng, (fmr-1)*ldc+fnr+2)
				want := to64(c0)
				for i := 0; i < fmr; i++ {
					for j := 0; j < fnr; j++ {
						var s float64
						for p := 0; p < kc; p++ {
							s += float64(a[p*fmr+i]) * float64(b[p*fnr+j])
						}
						old := want[i*ldc+j]
						switch mode.mode {
						case 0:
							old = 0
						case 1:
						default:
							old *= float64(mode.beta)
						}
						want[i*ldc+j] = float64(mode.alpha)*s + old
					}
				}
				c := append([]float32(nil), c0...)
				if mode.mode == 0 {
					c[0], c[ldc+5] = float32(math.NaN()), float32(math.Inf(1)) // overwritten, never read
				}
				kern(kc, a, b, c, ldc, mode.alpha, mode.beta, mode.mode)
				requireClose(t, want, c, 1e-5, fmt.Sprintf("%s kc=%d mode=%d", name, kc, mode.mode))
			}
		}
	}
}

// TestGemmBlockedEdges checks the packed driver around every block edge
// (mr, nr, kc, mc, nc ± 1), for all transpose combinations, strided
// operands and alpha/beta combinations, with NaN in C when beta == 0.
func TestGemmBlockedEdges(t *testing.T) {
	type shape struct{ m, n, k int }
	scalars := []struct{ alpha, beta float32 }{{1, 0}, {-0.5, 1}, {2, 0.25}, {1, -1}}
	rng := newRNG(12)
	for _, kv := range gemmVariants() {
		kname, kern := kv.name, kv
		fmr, fnr, fkc, fmc, fnc := kv.mr, kv.nr, kv.kc, kv.mc, kv.nc
		dims := []int{1, 5, fmr - 1, fmr + 1, 7, fnr - 1, fnr + 1, 2*fnr + 3}
		var shapes []shape
		for _, m := range dims {
			for _, n := range dims {
				shapes = append(shapes, shape{m, n, 9})
			}
		}
		shapes = append(shapes,
			shape{13, 35, fkc - 1}, shape{13, 35, fkc}, shape{13, 35, fkc + 1}, shape{7, 5, 3*fkc + 17},
			shape{fmc - 1, 20, 40}, shape{fmc + 1, 20, 40}, shape{2*fmc + fmr + 1, 3, 10},
			shape{9, fnc - 1, 20}, shape{9, fnc + 1, 20}, shape{50, 70, 1100}, shape{fmc + 7, 3 * fmc, 30},
			shape{4 * fmr, 4 * fnr, 2*fkc + 8},
		)
		for si, sh := range shapes {
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					pad := si % 3
					lda, arows := sh.k+pad, sh.m
					if ta {
						lda, arows = sh.m+pad, sh.k
					}
					ldb, brows := sh.n+pad, sh.k
					if tb {
						ldb, brows = sh.k+pad, sh.n
					}
					ldc := sh.n + 2*pad
					a := randSlice(rng, (arows-1)*lda+lda-pad)
					b := randSlice(rng, (brows-1)*ldb+ldb-pad)
					c0 := randSlice(rng, (sh.m-1)*ldc+sh.n)
					sc := scalars[(si+btoi(ta)+2*btoi(tb))%len(scalars)]
					for _, par := range []int{1, 3} {
						msg := fmt.Sprintf("%s m=%d n=%d k=%d pad=%d tA=%v tB=%v alpha=%v beta=%v workers=%d",
							kname, sh.m, sh.n, sh.k, pad, ta, tb, sc.alpha, sc.beta, par)
						want := refGemm(ta, tb, sh.m, sh.n, sh.k, float64(sc.alpha), a, lda, b, ldb, float64(sc.beta), c0, ldc)
						c := append([]float32(nil), c0...)
						if sc.beta == 0 {
							for i := 0; i < sh.m; i++ {
								for j := 0; j < sh.n; j++ {
									c[i*ldc+j] = float32(math.NaN())
								}
							}
						}
						gemmBlocked(kern, ta, sh.m, sh.n, sh.k, sc.alpha, a, lda, bMat{f32: b, trans: tb, ld: ldb}, sc.beta, c, ldc, par)
						requireClose(t, want, c, 1e-5, msg)
					}
				}
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestGemmBlockedHalf checks decoding BF16/F16 op(B) while packing, both
// layouts, against the decoded float32 matrix.
func TestGemmBlockedHalf(t *testing.T) {
	rng := newRNG(13)
	for _, kern := range gemmVariants() {
		kname := kern.name
		for _, dt := range []DType{BF16, F16} {
			for _, sh := range []struct{ m, n, k int }{{7, 33, 19}, {20, 17, 300}, {13, 100, 5}, {30, 3*kern.nr + 5, 2*kern.kc + 9}} {
				for _, tb := range []bool{false, true} {
					rows, cols := sh.k, sh.n
					if tb {
						rows, cols = sh.n, sh.k
					}
					w := halfWeight(rng, rows, cols, dt)
					wf := make([]float32, rows*cols)
					w.decodeBlock(0, rows, 0, cols, wf)
					a := randSlice(rng, sh.m*sh.k)
					c0 := randSlice(rng, sh.m*sh.n)
					want := refGemm(false, tb, sh.m, sh.n, sh.k, 1.5, a, sh.k, wf, cols, 1, c0, sh.n)
					c := append([]float32(nil), c0...)
					gemmBlocked(kern, false, sh.m, sh.n, sh.k, 1.5, a, sh.k, bMat{half: w.Half, dt: dt, trans: tb, ld: cols}, 1, c, sh.n, 2)
					requireClose(t, want, c, 1e-5, fmt.Sprintf("%s %s m=%d n=%d k=%d tB=%v", kname, dt, sh.m, sh.n, sh.k, tb))
				}
			}
		}
	}
}

func TestGemmBlockedZeroAlphaOrK(t *testing.T) {
	for _, kern := range gemmVariants() {
		kname := kern.name
		c := []float32{float32(math.NaN()), 2, 3, 4}
		gemmBlocked(kern, false, 2, 2, 0, 1, nil, 1, bMat{ld: 2}, 0, c, 2, 2)
		require.Equal(t, []float32{0, 0, 0, 0}, c, kname)
		c = []float32{1, 2, 3, 4}
		a := []float32{float32(math.NaN()), 1, 1, 1}
		gemmBlocked(kern, false, 2, 2, 2, 0, a, 2, bMat{f32: []float32{1, 1, 1, 1}, ld: 2}, 2, c, 2, 2)
		require.Equal(t, []float32{2, 4, 6, 8}, c, kname)
	}
}

// BenchmarkMicroKernel runs the micro-kernel on L1/L2-resident panels: the
// single-core ceiling of the packed Gemm.
func BenchmarkMicroKernel(b *testing.B) {
	rng := newRNG(14)
	for _, kv := range gemmVariants() {
		kc, fmr, fnr := kv.kc, kv.mr, kv.nr
		a := randSlice(rng, kc*fmr)
		bp := randSlice(rng, kc*fnr)
		c := make([]float32, fmr*fnr)
		b.Run(kv.name, func(b *testing.B) {
			for b.Loop() {
				kv.micro(kc, a, bp, c, fnr, 1, 0, 1)
			}
			b.ReportMetric(float64(2*fmr*fnr*kc)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkMicroKernelParallel runs the micro-kernel on every processor at
// once: the machine's FMA ceiling as the driver sees it.
func BenchmarkMicroKernelParallel(b *testing.B) {
	for _, kv := range archKernels() {
		kc, fmr, fnr := kv.kc, kv.mr, kv.nr
		b.Run(kv.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				rng := newRNG(15)
				a := randSlice(rng, kc*fmr)
				bp := randSlice(rng, kc*fnr)
				c := make([]float32, fmr*fnr)
				for pb.Next() {
					kv.micro(kc, a, bp, c, fnr, 1, 0, 1)
				}
			})
			b.ReportMetric(float64(2*fmr*fnr*kc)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestPackBPanelHalfAllValues packs every one of the 65536 half bit patterns
// (as an nr x 65536/nr matrix, both layouts, nr = 16, 32, 64) with packBPanel (assembly where the
// CPU has it) and compares with the portable packBPanelGo: bit-exact, and NaN
// where NaN. Subnormals, infinities and signed zeros included.
func TestPackBPanelHalfAllValues(t *testing.T) {
	for _, fnr := range []int{16, 32, 64} {
		testPackBPanelHalfAllValues(t, fnr)
	}
}

func testPackBPanelHalfAllValues(t *testing.T, fnr int) {
	rows, cols := fnr, 65536/fnr
	for _, dt := range []DType{BF16, F16} {
		for _, trans := range []bool{false, true} {
			src := make([]uint16, rows*cols)
			for i := range src {
				src[i] = uint16(i)
			}
			b := bMat{half: src, dt: dt, trans: trans, ld: cols}
			if !trans { // op(B) is [cols=k... ] stored as [k rows, fnr cols]
				for p := 0; p < cols; p++ {
					for j := 0; j < fnr; j++ {
						src[p*fnr+j] = uint16(j*cols + p)
					}
				}
				b.ld = fnr
			}
			for _, p0 := range []int{0, 3} {
				kc := cols - p0 - 5 // odd length: assembly body plus Go tail
				got := make([]float32, fnr*kc)
				want := make([]float32, fnr*kc)
				packBPanel(fnr, b, p0, kc, 0, fnr, got)
				packBPanelGo(fnr, b, p0, kc, 0, fnr, want)
				for i := range want {
					g, w := got[i], want[i]
					if math.IsNaN(float64(w)) {
						require.True(t, math.IsNaN(float64(g)), "nr=%d %s trans=%v p0=%d elem %d: got %v want NaN", fnr, dt, trans, p0, i, g)
						continue
					}
					require.Equal(t, math.Float32bits(w), math.Float32bits(g), "nr=%d %s trans=%v p0=%d elem %d: got %v want %v", fnr, dt, trans, p0, i, g, w)
				}
			}
		}
	}
}

// TestDotAxpyK checks the small-m dot/axpy kernels (assembly where
// available) at every length through the 32-, 8- and 1-wide loops.
func TestDotAxpyK(t *testing.T) {
	rng := newRNG(16)
	for n := 0; n <= 100; n++ {
		x := randSlice(rng, n)
		y := randSlice(rng, n+1) // longer y: only the first n are used
		var want, mag float64
		for i := range x {
			want += float64(x[i]) * float64(y[i])
			mag += math.Abs(float64(x[i]) * float64(y[i]))
		}
		got := float64(dotK(x, y))
		// float32 summation error scales with Σ|x·y|, not with the (possibly
		// cancelling) result.
		require.InDelta(t, want, got, 1e-6*mag+1e-30, "dot n=%d", n)
		wantY := to64(y)
		for i := range x {
			wantY[i] += -1.5 * float64(x[i])
		}
		axpyK(-1.5, x, y)
		requireClose(t, wantY, y, 1e-6, fmt.Sprintf("axpy n=%d", n))
	}
}

// TestDecodeRows checks the (assembly) row decoder against decodeBlock on
// sub-blocks with ragged widths.
func TestDecodeRows(t *testing.T) {
	rng := newRNG(17)
	for _, dt := range []DType{F32, BF16, F16} {
		w := halfWeight(rng, 9, 70, dt)
		for _, cc := range [][2]int{{0, 70}, {3, 70}, {5, 37}, {0, 16}, {2, 9}} {
			n := (7 - 2) * (cc[1] - cc[0])
			got, want := make([]float32, n), make([]float32, n)
			decodeRows(w, 2, 7, cc[0], cc[1], got)
			w.decodeBlock(2, 7, cc[0], cc[1], want)
			require.Equal(t, want, got, "%s cols %v", dt, cc)
		}
	}
}

// TestLinearUnknownDTypePanics: a weight with an unknown dtype must never be
// decoded as some other precision, on either the packed or the small-m path.
func TestLinearUnknownDTypePanics(t *testing.T) {
	for _, m := range []int{1, 16} {
		w := &Weight{Rows: 20, Cols: 40, DType: DType(7), Half: make([]uint16, 800)}
		x := make([]float32, m*40)
		require.Panics(t, func() { Linear(make([]float32, m*20), x, m, w, false) }, "linear m=%d", m)
		require.Panics(t, func() { LinearBackwardInput(x, make([]float32, m*20), m, w, false) }, "backward m=%d", m)
		require.Panics(t, func() {
			gemmBlocked(goKernel, false, m, 20, 40, 1, x, 40, bMat{half: w.Half, dt: w.DType, trans: true, ld: 40}, 0, make([]float32, m*20), 20, 1)
		}, "gemmBlocked m=%d", m)
	}
}

// TestGemmNoAllocs: Gemm and GemmSerial allocate nothing in steady state
// (pooled packing buffers and task state, a pool of worker goroutines).
func TestGemmNoAllocs(t *testing.T) {
	skipUnderRace(t)
	if fastKernel == nil {
		t.Skip("portable build: Gemm uses gonum")
	}
	rng := newRNG(18)
	for _, sh := range []struct {
		m, n, k int
		ta, tb  bool
	}{{1, 3072, 1024, false, true}, {5, 1024, 3072, false, false}, {3, 300, 200, true, false}, {96, 96, 128, false, true}, {96, 128, 96, false, false}, {384, 128, 1024, false, true}, {384, 1024, 128, true, false}, {200, 700, 300, false, false}} {
		a := randSlice(rng, sh.m*sh.k)
		b := randSlice(rng, sh.k*sh.n)
		c := make([]float32, sh.m*sh.n)
		lda, ldb := sh.k, sh.n
		if sh.ta {
			lda = sh.m
		}
		if sh.tb {
			ldb = sh.k
		}
		for name, f := range map[string]func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int){"Gemm": Gemm, "GemmSerial": GemmSerial} {
			run := func() { f(sh.ta, sh.tb, sh.m, sh.n, sh.k, 1, a, lda, b, ldb, 0.5, c, sh.n) }
			run()
			allocs := testing.AllocsPerRun(20, run)
			require.Zero(t, allocs, "%s m=%d n=%d k=%d", name, sh.m, sh.n, sh.k)
		}
	}
}

// TestGemmBlockedSmallSizes sweeps m = 1..40 and n, k over 1..40 (ragged
// against every register tile) for every variant, transpose combination and
// the alpha/beta cases 0, 1 and others, serial and parallel.
func TestGemmBlockedSmallSizes(t *testing.T) {
	scalars := []struct{ alpha, beta float32 }{{1, 0}, {1, 1}, {-0.5, 1}, {2, 0.25}, {0.75, -1}, {0, 0.5}}
	rng := newRNG(19)
	for _, kv := range gemmVariants() {
		iter := 0
		for m := 1; m <= 40; m++ {
			for n := 1 + m%3; n <= 40; n += 3 {
				k := 1 + (7*m+3*n)%40
				ta, tb := iter%2 == 1, iter/2%2 == 1
				sc := scalars[iter%len(scalars)]
				par := 1 + 2*btoi(iter%5 == 0)
				iter++
				lda, arows := k, m
				if ta {
					lda, arows = m, k
				}
				ldb, brows := n, k
				if tb {
					ldb, brows = k, n
				}
				a := randSlice(rng, arows*lda)
				b := randSlice(rng, brows*ldb)
				c0 := randSlice(rng, m*n)
				want := refGemm(ta, tb, m, n, k, float64(sc.alpha), a, lda, b, ldb, float64(sc.beta), c0, n)
				c := append([]float32(nil), c0...)
				if sc.beta == 0 {
					c[0] = float32(math.NaN())
				}
				gemmBlocked(kv, ta, m, n, k, sc.alpha, a, lda, bMat{f32: b, trans: tb, ld: ldb}, sc.beta, c, n, par)
				requireClose(t, want, c, 1e-5, fmt.Sprintf("%s m=%d n=%d k=%d tA=%v tB=%v alpha=%v beta=%v workers=%d", kv.name, m, n, k, ta, tb, sc.alpha, sc.beta, par))
			}
		}
	}
}
