package kern

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/reftest"
)

func TestSwiGLU(t *testing.T) {
	rng := newRNG(11)
	for _, n := range []int{1, 7, 100, 40000} {
		g := randSlice(rng, n)
		u := randSlice(rng, n)
		g[0] = -30 // saturated sigmoid must not produce NaN
		h := make([]float32, n)
		SwiGLU(h, g, u)
		requireClose(t, reftest.SwiGLU(to64(g), to64(u)), h, 1e-6, fmt.Sprintf("swiglu n=%d", n))

		gg, uu := to64(g[:min(n, 9)]), to64(u[:min(n, 9)])
		r := randSlice(rng, len(gg))
		loss := func() float64 { return reftest.Dot(reftest.SwiGLU(gg, uu), to64(r)) }
		dg := make([]float32, len(gg))
		du := make([]float32, len(gg))
		SwiGLUBackward(dg, du, r, g[:len(gg)], u[:len(gg)])
		requireClose(t, reftest.NumGrad(gg, loss), dg, 1e-6, "swiglu dg")
		requireClose(t, reftest.NumGrad(uu, loss), du, 1e-6, "swiglu du")
	}
}

func refLogSoftmax(row []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, v)
	}
	var s float64
	for _, v := range row {
		s += math.Exp(v - mx)
	}
	out := make([]float64, len(row))
	for i, v := range row {
		out[i] = v - mx - math.Log(s)
	}
	return out
}

func TestSoftmaxAndLogSoftmaxAt(t *testing.T) {
	rng := newRNG(12)
	for _, tc := range []struct{ rows, n int }{{1, 1}, {3, 5}, {4, 1000}} {
		x := randSlice(rng, tc.rows*tc.n)
		x[0] += 80 // max subtraction keeps exp finite
		want := make([]float64, 0, len(x))
		for r := 0; r < tc.rows; r++ {
			ls := refLogSoftmax(to64(x[r*tc.n : (r+1)*tc.n]))
			for i, l := range ls {
				want = append(want, math.Exp(l))
				assert.InDelta(t, l, LogSoftmaxAt(x[r*tc.n:(r+1)*tc.n], i), 1e-12*math.Max(1, math.Abs(l)))
			}
		}
		y := append([]float32(nil), x...)
		Softmax(y, tc.n)
		requireClose(t, want, y, 1e-6, fmt.Sprintf("softmax %dx%d", tc.rows, tc.n))
	}
	assert.Panics(t, func() { LogSoftmaxAt([]float32{1, 2}, 2) })
}

func TestCrossEntropy(t *testing.T) {
	rng := newRNG(13)
	for _, tc := range []struct {
		v       int
		targets []int32
		scale   float32
	}{
		{1, []int32{0}, 1},
		{5, []int32{1, -1, 4, 0}, 0.25},
		{7, []int32{-1, -1}, 1},
		{300, []int32{299, 3, -1, 17, 0}, 1.0 / 3},
	} {
		R := len(tc.targets)
		logits := randSlice(rng, R*tc.v)
		l64 := to64(logits)
		ref := func() (float64, int) {
			var s float64
			c := 0
			for r, t := range tc.targets {
				if t >= 0 {
					s -= refLogSoftmax(l64[r*tc.v : (r+1)*tc.v])[t]
					c++
				}
			}
			return s, c
		}
		wantLoss, wantCount := ref()
		name := fmt.Sprintf("v=%d targets=%v", tc.v, tc.targets)
		loss, count := CrossEntropy(nil, logits, tc.v, tc.targets, tc.scale)
		assert.Equal(t, wantCount, count, name)
		assert.InDelta(t, wantLoss, loss, 1e-9*math.Max(1, wantLoss), name)

		dl := randSlice(rng, len(logits))
		loss2, _ := CrossEntropy(dl, logits, tc.v, tc.targets, tc.scale)
		assert.Equal(t, loss, loss2)
		num := reftest.NumGrad(l64, func() float64 { l, _ := ref(); return l })
		for i := range num {
			num[i] *= float64(tc.scale)
		}
		requireClose(t, num, dl, 1e-6, name+" dlogits")
		for r, tg := range tc.targets {
			if tg < 0 {
				require.Equal(t, make([]float32, tc.v), dl[r*tc.v:(r+1)*tc.v], "ignored row %d is zero", r)
			}
		}
		// dlogits may alias logits.
		alias := append([]float32(nil), logits...)
		loss3, _ := CrossEntropy(alias, alias, tc.v, tc.targets, tc.scale)
		assert.Equal(t, loss, loss3)
		assert.Equal(t, dl, alias, name+" aliased")
	}
	assert.Panics(t, func() { CrossEntropy(nil, make([]float32, 4), 2, []int32{0, 2}, 1) })
}

// refAdamW is torch.optim.AdamW's single-tensor update written out in float64.
func refAdamW(o AdamW, p, g, m, v []float64, step int) {
	for i := range p {
		p[i] *= 1 - o.LR*o.WeightDecay
		m[i] = o.Beta1*m[i] + (1-o.Beta1)*g[i]
		v[i] = o.Beta2*v[i] + (1-o.Beta2)*g[i]*g[i]
		bc1 := 1 - math.Pow(o.Beta1, float64(step))
		bc2 := 1 - math.Pow(o.Beta2, float64(step))
		p[i] -= o.LR / bc1 * m[i] / (math.Sqrt(v[i])/math.Sqrt(bc2) + o.Eps)
	}
}

func TestAdamW(t *testing.T) {
	rng := newRNG(14)
	for _, o := range []AdamW{
		{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01},
		{LR: 2e-4, Beta1: 0.9, Beta2: 0.95, Eps: 1e-6, WeightDecay: 0},
		{LR: 0.1, Beta1: 0.3, Beta2: 0.5, Eps: 1e-8, WeightDecay: 0.1},
	} {
		n := 50
		p := randSlice(rng, n)
		p64 := to64(p)
		m, v := make([]float32, n), make([]float32, n)
		m64, v64 := make([]float64, n), make([]float64, n)
		for step := 1; step <= 3; step++ {
			g := randSlice(rng, n)
			g[0] = 0
			// One step from the same float32 state: the update (~lr) must agree to
			// float32 rounding of p (tol 2e-7 ~ 2 ulp).
			p1, m1, v1 := to64(p), to64(m), to64(v)
			refAdamW(o, p1, to64(g), m1, v1, step)
			o.Step(p, g, m, v, step)
			refAdamW(o, p64, to64(g), m64, v64, step)
			name := fmt.Sprintf("%+v step %d", o, step)
			requireClose(t, p1, p, 2e-7, name+" p (one step)")
			requireClose(t, m1, m, 2e-7, name+" m (one step)")
			requireClose(t, v1, v, 2e-7, name+" v (one step)")
			requireClose(t, p64, p, 1e-6, name+" p")
			requireClose(t, m64, m, 1e-6, name+" m")
			requireClose(t, v64, v, 1e-6, name+" v")
		}
	}
	assert.Panics(t, func() {
		AdamW{}.Step(make([]float32, 1), make([]float32, 1), make([]float32, 1), make([]float32, 1), 0)
	})
}

// TestSwiGLUAccuracy checks every path of SwiGLU (the vectorised one where the processor has
// it, with its 8-lane tails, and the portable one) against float64 over the whole range of
// silu: saturated tails, values near 0 and the clamping thresholds of the vectorised exp.
func TestSwiGLUAccuracy(t *testing.T) {
	rng := newRNG(5)
	special := []float32{0, -0.0, 1e-30, -1e-30, 1e-7, -1e-7, 0.5, -0.5, 1, -1, 10, -10, 30, -30,
		86.9, 87, 87.1, 88, 88.1, -86.9, -87, -87.1, -88, -88.1, 100, -100, 1e30, -1e30}
	for _, n := range []int{1, 7, 8, 9, 17, 1000, 70001} {
		g := make([]float32, n)
		u := make([]float32, n)
		for i := range g {
			g[i] = float32(rng.NormFloat64() * 8)
			u[i] = float32(rng.NormFloat64())
			if i < len(special) {
				g[i], u[i] = special[i], 1
			}
		}
		h := make([]float32, n)
		SwiGLU(h, g, u)
		for i := range g {
			x := float64(g[i])
			want := float32(x / (1 + math.Exp(-x)) * float64(u[i]))
			got := h[i]
			tol := 4 * ulp32(want)
			if x < -87 { // silu below 1e-36: absolute error only
				tol = 1e-35
			}
			if math.Abs(float64(got-want)) > float64(tol) || math.IsNaN(float64(got)) {
				t.Fatalf("n=%d: silu(%g)·%g = %g, want %g (tol %g)", n, g[i], u[i], got, want, tol)
			}
		}
		// In place over g gives the same numbers.
		gc := append([]float32(nil), g...)
		SwiGLU(gc, gc, u)
		require.Equal(t, h, gc, "n=%d in place", n)
	}
	nan := []float32{float32(math.NaN())}
	SwiGLU(nan, nan, []float32{1})
	require.True(t, math.IsNaN(float64(nan[0])), "silu(NaN)")
}

// ulp32 is the spacing of float32 values at |v|.
func ulp32(v float32) float32 {
	a := float32(math.Abs(float64(v)))
	return math.Nextafter32(a, float32(math.Inf(1))) - a
}

// TestSwiGLUBackwardAccuracy checks SwiGLUBackward (the vectorised float32 path where the CPU
// has one) against the float64 formula over the whole useful input range, saturated inputs,
// NaN, odd lengths (the 8-lane tail) and gradients written over dh.
func TestSwiGLUBackwardAccuracy(t *testing.T) {
	rng := newRNG(21)
	for _, n := range []int{1, 7, 8, 13, 1000, 70001} {
		g := randSlice(rng, n)
		u := randSlice(rng, n)
		dh := randSlice(rng, n)
		for i := range g {
			g[i] *= 12 // [-12, 12): both tails of the sigmoid
		}
		g[0] = -100
		if n > 1 {
			g[1] = 100
		}
		wantG := make([]float64, n)
		wantU := make([]float64, n)
		for i := range g {
			x := float64(g[i])
			s := 1 / (1 + math.Exp(-x))
			wantG[i] = float64(dh[i]) * float64(u[i]) * s * (1 + x*(1-s))
			wantU[i] = float64(dh[i]) * x * s
		}
		dg := make([]float32, n)
		du := make([]float32, n)
		SwiGLUBackward(dg, du, dh, g, u)
		requireClose(t, wantG, dg, 1e-5, fmt.Sprintf("dg n=%d", n))
		requireClose(t, wantU, du, 1e-5, fmt.Sprintf("du n=%d", n))

		// dg and du may alias dh.
		d2 := append([]float32(nil), dh...)
		SwiGLUBackward(d2, du, d2, g, u)
		requireClose(t, wantG, d2, 1e-5, fmt.Sprintf("dg over dh n=%d", n))
	}
	g := []float32{float32(math.NaN()), 1, 2, 3, 4, 5, 6, 7, 8}
	one := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}
	dg := make([]float32, len(g))
	du := make([]float32, len(g))
	SwiGLUBackward(dg, du, one, g, one)
	assert.True(t, math.IsNaN(float64(dg[0])) && math.IsNaN(float64(du[0])), "NaN input gives NaN gradients")
	assert.False(t, math.IsNaN(float64(dg[1])), "a NaN does not leak into other lanes")
}
