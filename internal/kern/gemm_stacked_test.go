package kern

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/reftest"
)

// refLinearLoRA returns x·Wᵀ and x·Aᵀ in float64.
func refLinearLoRA(x []float32, m int, w *Weight, a []float32, r int) (y, t []float64) {
	wd := to64(decoded(w))
	R, C := w.Rows, w.Cols
	y, t = make([]float64, m*R), make([]float64, m*r)
	for i := 0; i < m; i++ {
		xi := to64(x[i*C : (i+1)*C])
		for j := 0; j < R; j++ {
			y[i*R+j] = reftest.Dot(xi, wd[j*C:(j+1)*C])
		}
		for j := 0; j < r; j++ {
			t[i*r+j] = reftest.Dot(xi, to64(a[j*C:(j+1)*C]))
		}
	}
	return y, t
}

// refLinearLoRABackward returns dy·W + su·A in float64.
func refLinearLoRABackward(dy, su []float32, m int, w *Weight, a []float32, r int) []float64 {
	wd := to64(decoded(w))
	R, C := w.Rows, w.Cols
	dx := make([]float64, m*C)
	for i := 0; i < m; i++ {
		for p := 0; p < C; p++ {
			var s float64
			for j := 0; j < R; j++ {
				s += float64(dy[i*R+j]) * wd[j*C+p]
			}
			for q := 0; q < r; q++ {
				s += float64(su[i*r+q]) * float64(a[q*C+p])
			}
			dx[i*C+p] = s
		}
	}
	return dx
}

// plus returns base + add element-wise, in float64.
func plus(base []float32, add []float64) []float64 {
	sum := to64(base)
	for i, v := range add {
		sum[i] += v
	}
	return sum
}

func nanSlice(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(math.NaN())
	}
	return s
}

// stackedVariants is every packed variant usable here and nil (the separate
// products of the portable build).
func stackedVariants() []*gemmKernel { return append(gemmVariants(), nil) }

type loraShape struct{ m, out, in, r int }

// TestLinearLoRAStacked checks the stacked forward (y = x·Wᵀ and t = x·Aᵀ
// from one product) of every variant, W in every layout (weightLayouts),
// serial and parallel, against float64: ragged m, in and r, two row blocks of
// op(A), the seam at a column block (nc) boundary, and the fallbacks (out not a multiple of the
// tile width, m < 8).
func TestLinearLoRAStacked(t *testing.T) {
	rng := newRNG(31)
	for _, kv := range stackedVariants() {
		name, nr, kc, mc, nc := "separate", 16, 256, 144, 4096
		if kv != nil {
			name, nr, kc, mc, nc = kv.name, kv.nr, kv.kc, kv.mc, kv.nc
		}
		shapes := []loraShape{
			{7, nr, 9, 3}, {13, 2 * nr, 33, nr + 3}, {29, 3 * nr, kc + 3, 5}, {mc + 5, 2 * nr, 40, 2*nr + 1},
			{20, nr, 2*kc + 9, 1}, {9, nc, 5, 40}, {9, nc - nr, 5, 2*nr + 3},
			{13, 2*nr + 5, 20, 7}, {3, nr, 10, 4}, {1, 2 * nr, 6, 2},
		}
		for _, sh := range shapes {
			for _, w := range weightLayouts(rng, sh.out, sh.in) {
				a := randSlice(rng, sh.r*sh.in)
				x := randSlice(rng, sh.m*sh.in)
				wantY, wantT := refLinearLoRA(x, sh.m, w, a, sh.r)
				y0 := randSlice(rng, sh.m*sh.out)
				wantAcc := plus(y0, wantY)
				for _, par := range []int{1, 3} {
					msg := fmt.Sprintf("%s %s m=%d out=%d in=%d r=%d workers=%d", name, layoutName(w), sh.m, sh.out, sh.in, sh.r, par)
					y, tt := nanSlice(sh.m*sh.out), nanSlice(sh.m*sh.r)
					linearLoRA(kv, y, tt, x, sh.m, w, a, sh.r, false, par)
					requireClose(t, wantY, y, 1e-5, msg+" y")
					requireClose(t, wantT, tt, 1e-5, msg+" t")
					// accumulate: y += x·Wᵀ, t still overwritten
					y, tt = append([]float32(nil), y0...), nanSlice(sh.m*sh.r)
					linearLoRA(kv, y, tt, x, sh.m, w, a, sh.r, true, par)
					requireClose(t, wantAcc, y, 1e-5, msg+" y accumulated")
					requireClose(t, wantT, tt, 1e-5, msg+" t (y accumulated)")
				}
			}
		}
	}
}

// TestLinearLoRABackwardStacked checks the stacked input gradient (dx =
// [dy | su]·[W ; A], one product over depth out + r) of every variant, W in
// every layout, against float64, with the seam inside and at the edges of
// depth blocks, ragged sizes, two row blocks, the fallback for m < 8, and
// the transposed product of a weight in the kernel's panel layout.
func TestLinearLoRABackwardStacked(t *testing.T) {
	rng := newRNG(32)
	for _, kv := range stackedVariants() {
		name, nr, kc, mc := "separate", 16, 256, 144
		if kv != nil {
			name, nr, kc, mc = kv.name, kv.nr, kv.kc, kv.mc
		}
		shapes := []loraShape{
			{7, 5, 9, 3}, {13, kc - 2, 33, 5}, {29, 17, 2*nr + 5, kc + 1}, {mc + 5, 40, 20, 9},
			{20, 2*kc + 3, 3*nr + 1, 8}, {11, kc, 2 * nr, 16}, {9, 1, 7, 1}, {3, 10, 12, 4}, {1, 16, nr, 2},
			// panel layout of the tile width, W read in place (backwardWT): a partial row
			// panel of Wᵀ (in), edge columns (m), a last depth block of one panel, no LoRA
			{mc + 5, 2*kc + 32, 3*nr + 1, 8}, {45, 3 * nr, 12*3 + 5, 0}, {8, nr, 12, 2 * nr},
		}
		for _, sh := range shapes {
			for _, w := range weightLayouts(rng, sh.out, sh.in) {
				a := randSlice(rng, sh.r*sh.in)
				dy := randSlice(rng, sh.m*sh.out)
				su := randSlice(rng, sh.m*sh.r)
				want := refLinearLoRABackward(dy, su, sh.m, w, a, sh.r)
				dx0 := randSlice(rng, sh.m*sh.in)
				wantAcc := plus(dx0, want)
				for _, par := range []int{1, 3} {
					msg := fmt.Sprintf("%s %s m=%d out=%d in=%d r=%d workers=%d", name, layoutName(w), sh.m, sh.out, sh.in, sh.r, par)
					dx := nanSlice(sh.m * sh.in)
					linearLoRABackwardInput(kv, dx, dy, su, sh.m, w, a, sh.r, false, par)
					requireClose(t, want, dx, 1e-5, msg)
					dx = append([]float32(nil), dx0...)
					linearLoRABackwardInput(kv, dx, dy, su, sh.m, w, a, sh.r, true, par)
					requireClose(t, wantAcc, dx, 1e-5, msg+" accumulated")
				}
			}
		}
	}
}

// TestLinearLoRAAdjoint checks the public pair against each other: the
// backward is the adjoint of the forward, <dy, x·Wᵀ> + <su, x·Aᵀ> = <dy·W +
// su·A, x>.
func TestLinearLoRAAdjoint(t *testing.T) {
	rng := newRNG(33)
	for _, sh := range []loraShape{{37, 96, 50, 8}, {5, 64, 30, 3}, {40, 70, 33, 5}} {
		for _, dt := range []DType{F32, BF16} {
			w := halfWeight(rng, sh.out, sh.in, dt)
			a := randSlice(rng, sh.r*sh.in)
			x := randSlice(rng, sh.m*sh.in)
			dy := randSlice(rng, sh.m*sh.out)
			su := randSlice(rng, sh.m*sh.r)
			y, tt := make([]float32, sh.m*sh.out), make([]float32, sh.m*sh.r)
			LinearLoRA(y, tt, x, sh.m, w, a, sh.r, false)
			dx := make([]float32, sh.m*sh.in)
			LinearLoRABackwardInput(dx, dy, su, sh.m, w, a, sh.r, false)
			lhs := reftest.Dot(to64(dy), to64(y)) + reftest.Dot(to64(su), to64(tt))
			rhs := reftest.Dot(to64(dx), to64(x))
			require.InDelta(t, lhs, rhs, 1e-4*math.Sqrt(float64(sh.m*sh.in*sh.out)), "%s %+v", dt, sh)
		}
	}
}

func TestLinearLoRAChecksLengths(t *testing.T) {
	w := &Weight{Rows: 32, Cols: 8, F32: make([]float32, 256)}
	x, y := make([]float32, 10*8), make([]float32, 10*32)
	require.Panics(t, func() { LinearLoRA(y, make([]float32, 10*4-1), x, 10, w, make([]float32, 4*8), 4, false) })
	require.Panics(t, func() { LinearLoRA(y, make([]float32, 10*4), x, 10, w, make([]float32, 4*8-1), 4, false) })
	require.Panics(t, func() { LinearLoRABackwardInput(x, y, make([]float32, 10*4-1), 10, w, make([]float32, 4*8), 4, false) })
}

// TestLinearLoRANoAllocs: the stacked products allocate nothing in steady
// state.
func TestLinearLoRANoAllocs(t *testing.T) {
	skipUnderRace(t)
	if fastKernel == nil {
		t.Skip("portable build: separate products")
	}
	rng := newRNG(34)
	for _, dt := range []DType{F32, BF16} {
		m, out, in, r := 96, 128, 64, 16
		w := halfWeight(rng, out, in, dt)
		a, x := randSlice(rng, r*in), randSlice(rng, m*in)
		y, tt, dy, su, dx := make([]float32, m*out), make([]float32, m*r), randSlice(rng, m*out), randSlice(rng, m*r), make([]float32, m*in)
		fwd := func() { LinearLoRA(y, tt, x, m, w, a, r, true) }
		bwd := func() { LinearLoRABackwardInput(dx, dy, su, m, w, a, r, false) }
		fwd()
		bwd()
		require.Zero(t, testing.AllocsPerRun(20, fwd), "forward %s", dt)
		require.Zero(t, testing.AllocsPerRun(20, bwd), "backward %s", dt)
	}
}

// BenchmarkLinearLoRA compares the stacked products with the separate ones
// (Linear + the skinny x·Aᵀ; LinearBackwardInput + su·A) at the reference
// shapes: 4 x 96 tokens, hidden 1024, rank 128, with W row-major and in the
// kernel's panel layout (as the model holds float32 projections).
func BenchmarkLinearLoRA(b *testing.B) {
	rng := newRNG(35)
	const m, in, r = 384, 1024, 128
	for _, out := range []int{3072, 2048, 1024} {
		w := halfWeight(rng, out, in, F32)
		pw := *w
		pw.F32 = append([]float32(nil), w.F32...)
		pw.PackPanels()
		rowMajor := w
		a, x := randSlice(rng, r*in), randSlice(rng, m*in)
		y, tt := make([]float32, m*out), make([]float32, m*r)
		dy, su, dx := randSlice(rng, m*out), randSlice(rng, m*r), make([]float32, m*in)
		flops := 2 * float64(m) * float64(in) * float64(out+r)
		cases := []struct {
			name string
			f    func()
		}{
			{"forward/stacked", func() { LinearLoRA(y, tt, x, m, w, a, r, false) }},
			{"forward/separate", func() { Linear(y, x, m, w, false); Gemm(false, true, m, r, in, 1, x, in, a, in, 0, tt, r) }},
			{"backward/stacked", func() { LinearLoRABackwardInput(dx, dy, su, m, w, a, r, false) }},
			{"backward/separate", func() {
				LinearBackwardInput(dx, dy, m, w, false)
				Gemm(false, false, m, in, r, 1, su, r, a, in, 1, dx, in)
			}},
		}
		for _, layout := range []struct {
			name string
			w    *Weight
		}{{"rowmajor", rowMajor}, {"panel", &pw}} {
			for _, c := range cases {
				b.Run(fmt.Sprintf("out=%d/%s/%s", out, layout.name, c.name), func(b *testing.B) {
					w = layout.w
					c.f()
					b.ResetTimer()
					for b.Loop() {
						c.f()
					}
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
