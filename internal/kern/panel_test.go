package kern

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// panelCopy returns a float32 row-major weight in panel layout of width p.
func panelCopy(w *Weight, p int) *Weight {
	c := &Weight{Rows: w.Rows, Cols: w.Cols, DType: F32, F32: append([]float32(nil), w.F32...)}
	c.packPanels(p)
	return c
}

// weightLayouts returns a rows x cols weight in every storage the kernels
// take: float32, bf16 and f16 row-major, and float32 in panel layouts of
// widths 8, 16 and 32 where they divide rows.
func weightLayouts(rng interface{ NormFloat64() float64 }, rows, cols int) []*Weight {
	ws := []*Weight{halfWeight(rng, rows, cols, F32), halfWeight(rng, rows, cols, BF16), halfWeight(rng, rows, cols, F16)}
	for _, p := range []int{8, 16, 32} {
		if rows%p == 0 {
			ws = append(ws, panelCopy(halfWeight(rng, rows, cols, F32), p))
		}
	}
	return ws
}

func layoutName(w *Weight) string {
	if w.Panel > 0 {
		return fmt.Sprintf("f32/panel%d", w.Panel)
	}
	return w.DType.String()
}

// TestPanelLayout checks the layout against its row-major source: the
// storage order, RowMajor, RowF32, AddInPlace and Validate.
func TestPanelLayout(t *testing.T) {
	rng := newRNG(71)
	for _, sh := range []struct{ rows, cols, p int }{{8, 1, 8}, {16, 5, 8}, {64, 33, 32}, {96, 7, 16}, {32, 32, 32}} {
		w := halfWeight(rng, sh.rows, sh.cols, F32)
		pw := panelCopy(w, sh.p)
		name := fmt.Sprintf("[%d,%d] panel %d", sh.rows, sh.cols, sh.p)
		require.NoError(t, pw.Validate(), name)
		require.Len(t, pw.F32, len(w.F32), name)
		seen := make([]bool, len(w.F32))
		for i, v := range pw.F32 {
			j := pw.RowMajor(i)
			require.False(t, seen[j], "%s: storage %d maps to row-major %d twice", name, i, j)
			seen[j] = true
			require.Equal(t, w.F32[j], v, "%s: storage %d (row-major %d)", name, i, j)
			r, c := j/sh.cols, j%sh.cols
			require.Equal(t, i, panelIndex(r, c, sh.cols, sh.p), name)
		}
		require.Equal(t, w.F32, decoded(pw), name+": RowF32")
		delta := randSlice(rng, len(w.F32))
		w.AddInPlace(delta)
		pw.AddInPlace(delta)
		require.Equal(t, w.F32, decoded(pw), name+": AddInPlace")
		require.Equal(t, 5, w.RowMajor(5), "row-major storage maps to itself")
	}
	require.Error(t, (&Weight{Rows: 12, Cols: 2, F32: make([]float32, 24), Panel: 8}).Validate(), "rows not a multiple of the panel")
	require.Error(t, (&Weight{Rows: 8, Cols: 2, DType: BF16, Half: make([]uint16, 16), Panel: 8}).Validate(), "half precision in panels")
}

// TestPackPanels checks which weights PackPanels converts: float32 ones
// whose rows the kernel's panel width divides, once, and only with a packed
// kernel.
func TestPackPanels(t *testing.T) {
	rng := newRNG(72)
	w := halfWeight(rng, 64, 10, F32)
	want := decoded(w)
	if fastKernel == nil {
		require.False(t, w.PackPanels(), "portable build")
		require.Zero(t, w.Panel)
		return
	}
	require.True(t, w.PackPanels())
	require.Equal(t, fastKernel.nr, w.Panel)
	require.Equal(t, want, decoded(w))
	require.False(t, w.PackPanels(), "already in panels")
	require.False(t, halfWeight(rng, 64, 10, BF16).PackPanels(), "bf16")
	odd := halfWeight(rng, fastKernel.nr+1, 10, F32)
	require.False(t, odd.PackPanels(), "rows not a multiple of the panel width")
	require.Zero(t, odd.Panel)
}

// TestPanelGemmBitIdentical: forward, a weight in panel layout gives bit for
// bit the results of its row-major copy through every packed variant (read in
// place or repacked to another width), since the micro-kernel sees the same
// packed values in the same order. Backward (transposed from the panels, in
// depth blocks aligned to them) it matches float64.
func TestPanelGemmBitIdentical(t *testing.T) {
	rng := newRNG(73)
	for _, kn := range gemmVariants() {
		for _, sh := range []struct{ m, rows, cols int }{{1, 64, 33}, {13, 96, 300}, {kn.mc + 7, 64, kn.kc + 9}, {30, kn.nc + 2*kn.nr, 17}} {
			w := halfWeight(rng, sh.rows, sh.cols, F32)
			x := randSlice(rng, sh.m*sh.cols)
			dy := randSlice(rng, sh.m*sh.rows)
			for _, p := range []int{8, 16, 32} {
				pw := panelCopy(w, p)
				for _, workers := range []int{1, 3} {
					name := fmt.Sprintf("%s m=%d [%d,%d] panel %d workers %d", kn.name, sh.m, sh.rows, sh.cols, p, workers)
					y, py := make([]float32, sh.m*sh.rows), make([]float32, sh.m*sh.rows)
					gemmBlocked(kn, false, sh.m, sh.rows, sh.cols, 0.5, x, sh.cols, weightB(w, true), 0, y, sh.rows, workers)
					gemmBlocked(kn, false, sh.m, sh.rows, sh.cols, 0.5, x, sh.cols, weightB(pw, true), 0, py, sh.rows, workers)
					require.Equal(t, y, py, name+" forward")
					dx := nanSlice(sh.m * sh.cols)
					gemmBlocked(kn, false, sh.m, sh.cols, sh.rows, 1, dy, sh.rows, weightB(pw, false), 0, dx, sh.cols, workers)
					want := refGemm(false, false, sh.m, sh.cols, sh.rows, 1, dy, sh.rows, w.F32, sh.cols, 0, dx, sh.cols)
					requireClose(t, want, dx, 1e-5, name+" backward")
				}
			}
		}
	}
}

// TestPanelDot checks the panel GEMV kernels (assembly where installed, and
// the portable one) against float64 over k with every unroll remainder.
func TestPanelDot(t *testing.T) {
	rng := newRNG(74)
	for _, k := range []int{1, 2, 3, 4, 5, 7, 8, 33, 130} {
		x := randSlice(rng, k)
		p := randSlice(rng, k*32)
		want := make([]float64, 32)
		for j := range want {
			for q := range k {
				want[j] += float64(x[q]) * float64(p[q*32+j])
			}
		}
		for name, f := range map[string]func(x, p []float32, k, stride int, y []float32){"dispatched": panelDot16, "portable": panelDot16Go} {
			y := nanSlice(16)
			f(x, p[8:], k, 32, y) // columns 8..23 of the panel
			requireClose(t, want[8:24], y, 1e-6, fmt.Sprintf("panelDot16 %s k=%d", name, k))
		}
		if y := nanSlice(32); panelDot32(x, p, k, y) {
			requireClose(t, want, y, 1e-6, fmt.Sprintf("panelDot32 k=%d", k))
		}
	}
}

// TestPanelNoAllocs: products with a weight in panel layout allocate nothing
// in steady state (decoding's GEMV, forward and backward).
func TestPanelNoAllocs(t *testing.T) {
	skipUnderRace(t)
	if fastKernel == nil {
		t.Skip("portable build: no panel layout")
	}
	rng := newRNG(75)
	w := halfWeight(rng, 4*fastKernel.nr, 300, F32)
	require.True(t, w.PackPanels())
	for _, m := range []int{1, 96} {
		x, y := randSlice(rng, m*w.Cols), make([]float32, m*w.Rows)
		fwd := func() { Linear(y, x, m, w, false) }
		bwd := func() { LinearBackwardInput(x, y, m, w, true) }
		fwd()
		bwd()
		require.Zero(t, testing.AllocsPerRun(20, fwd), "forward m=%d", m)
		require.Zero(t, testing.AllocsPerRun(20, bwd), "backward m=%d", m)
	}
}
