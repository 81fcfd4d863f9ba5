package kern

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/reftest"
)

func TestRMSNorm(t *testing.T) {
	rng := newRNG(4)
	for _, tc := range []struct{ rows, n int }{{1, 1}, {3, 7}, {5, 64}, {40, 513}, {2, 4096}, {1000, 64}} {
		x := randSlice(rng, tc.rows*tc.n)
		w := randSlice(rng, tc.n)
		const eps = 1e-6
		want := reftest.RMSNorm(to64(x), to64(w), tc.n, eps)
		y := make([]float32, len(x))
		RMSNorm(y, x, w, tc.n, eps)
		name := fmt.Sprintf("rows=%d n=%d", tc.rows, tc.n)
		requireClose(t, want, y, 1e-6, "rmsnorm "+name)
		RMSNorm(x, x, w, tc.n, eps) // aliasing
		require.Equal(t, y, x, "in place "+name)
	}
}

func TestRMSNormBackward(t *testing.T) {
	rng := newRNG(5)
	for _, tc := range []struct{ rows, n int }{{1, 1}, {2, 5}, {3, 16}} {
		x32 := randSlice(rng, tc.rows*tc.n)
		w := randSlice(rng, tc.n)
		r := randSlice(rng, tc.rows*tc.n)
		const eps = 1e-5
		x := to64(x32)
		loss := func() float64 { return reftest.Dot(reftest.RMSNorm(x, to64(w), tc.n, eps), to64(r)) }
		dx := make([]float32, len(x32))
		RMSNormBackward(dx, r, x32, w, tc.n, eps)
		requireClose(t, reftest.NumGrad(x, loss), dx, 1e-5, fmt.Sprintf("rmsnorm dx rows=%d n=%d", tc.rows, tc.n))
	}
}

func TestNewRopeDefault(t *testing.T) {
	for _, tc := range []struct {
		d     int
		theta float64
	}{{8, 10000}, {64, 10000}, {128, 500000}, {128, 1e6}} {
		r, err := NewRope(tc.d, tc.theta, nil)
		require.NoError(t, err)
		require.Len(t, r.InvFreq, tc.d/2)
		want := make([]float64, tc.d/2)
		for i := range want {
			want[i] = 1 / math.Pow(tc.theta, float64(2*i)/float64(tc.d))
		}
		requireClose(t, want, r.InvFreq, 1e-6, fmt.Sprintf("inv_freq d=%d theta=%g", tc.d, tc.theta))
	}
	r, err := NewRope(8, 10000, nil)
	require.NoError(t, err)
	// 10000^(2i/8) = 1, 10, 100, 1000 exactly, so the float32 values are the nearest to 1, .1, .01, .001.
	assert.Equal(t, []float32{1, 0.1, 0.01, 0.001}, r.InvFreq)
}

// TestNewRopeLlama3 checks the llama3 scaling on a case small enough to do by
// hand: D=8, theta=1e4 gives inv_freq = 1, 0.1, 0.01, 0.001 and wavelengths
// 2π/f = 6.28, 62.8, 628.3, 6283. With factor 8, low_freq_factor 1,
// high_freq_factor 4 and original_max_position_embeddings 1024 the
// thresholds are low_freq_wavelen = 1024/1 = 1024 and high_freq_wavelen =
// 1024/4 = 256, so
//   - i=0,1 (wavelen < 256) stay 1 and 0.1;
//   - i=3 (6283 > 1024) becomes 0.001/8 = 0.000125;
//   - i=2 (256 <= 628.3 <= 1024) is smoothed: s = (1024/628.3185 - 1)/(4-1)
//     = (5.12/π - 1)/3 = 0.2099155, f = (1-s)*0.01/8 + s*0.01 = 0.003086761.
func TestNewRopeLlama3(t *testing.T) {
	r, err := NewRope(8, 10000, &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 1024})
	require.NoError(t, err)
	s := (5.12/math.Pi - 1) / 3
	assert.InDelta(t, 0.2099155, s, 1e-7)
	want := []float64{1, 0.1, 0.01 * ((1-s)/8 + s), 0.000125}
	assert.InDelta(t, 0.003086761, want[2], 1e-9)
	requireClose(t, want, r.InvFreq, 1e-6, "llama3 inv_freq")
	assert.Equal(t, float32(1), r.InvFreq[0])
	assert.Equal(t, float32(0.1), r.InvFreq[1])
	assert.Equal(t, float32(0.001)/8, r.InvFreq[3])

	// The default type is a no-op.
	d, err := NewRope(8, 10000, &RopeScaling{Type: "default"})
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 0.1, 0.01, 0.001}, d.InvFreq)
}

func TestNewRopeErrors(t *testing.T) {
	good := RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}
	for _, tc := range []struct {
		name  string
		d     int
		theta float64
		s     func(s *RopeScaling)
		err   string
	}{
		{"odd head dim", 7, 1e4, nil, "head_dim 7"},
		{"zero head dim", 0, 1e4, nil, "head_dim 0"},
		{"theta", 8, 0.5, nil, "rope_theta 0.5"},
		{"unknown type", 8, 1e4, func(s *RopeScaling) { s.Type = "yarn" }, `rope_type "yarn"`},
		{"zero factor", 8, 1e4, func(s *RopeScaling) { s.Factor = 0 }, "llama3 scaling factor=0"},
		{"high <= low", 8, 1e4, func(s *RopeScaling) { s.HighFreqFactor = 1 }, "want factor > 0, 0 < low < high"},
		{"no original", 8, 1e4, func(s *RopeScaling) { s.OriginalMaxPositions = 0 }, "original_max_position_embeddings=0"},
	} {
		var sc *RopeScaling
		if tc.s != nil {
			c := good
			tc.s(&c)
			sc = &c
		}
		_, err := NewRope(tc.d, tc.theta, sc)
		assert.ErrorContains(t, err, tc.err, tc.name)
	}
}

func TestRopeApply(t *testing.T) {
	rng := newRNG(6)
	for _, tc := range []struct {
		d, heads int
		pos      []int32
	}{{2, 1, []int32{0}}, {8, 3, []int32{0, 1, 2, 5}}, {64, 4, []int32{7, 100, 1000, 3, 3}}, {128, 2, []int32{4000, 8191}}, {32, 2, manyPositions(300)}} {
		r, err := NewRope(tc.d, 500000, nil)
		require.NoError(t, err)
		x := randSlice(rng, len(tc.pos)*tc.heads*tc.d)
		want := reftest.Rope(to64(x), r.InvFreq, tc.pos, tc.heads, tc.d)
		y := append([]float32(nil), x...)
		r.Apply(y, tc.pos, tc.heads)
		requireClose(t, want, y, 1e-5, fmt.Sprintf("rope d=%d heads=%d", tc.d, tc.heads))
		// Angles computed once, then applied: the same numbers as Apply.
		half := tc.d / 2
		cs, sn := make([]float32, len(tc.pos)*half), make([]float32, len(tc.pos)*half)
		r.Angles(cs, sn, tc.pos)
		z := append([]float32(nil), x...)
		r.ApplyAngles(z, cs, sn, tc.heads)
		require.Equal(t, y, z, "ApplyAngles d=%d heads=%d", tc.d, tc.heads)
		r.ApplyBackward(y, tc.pos, tc.heads)
		requireClose(t, to64(x), y, 1e-6, "inverse rotation restores x")
	}
}

func TestRopeApplyBackward(t *testing.T) {
	rng := newRNG(7)
	r, err := NewRope(8, 10000, &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 1024})
	require.NoError(t, err)
	pos := []int32{0, 3, 17}
	heads := 2
	x := to64(randSlice(rng, len(pos)*heads*8))
	rr := randSlice(rng, len(x))
	loss := func() float64 { return reftest.Dot(reftest.Rope(x, r.InvFreq, pos, heads, 8), to64(rr)) }
	dx := append([]float32(nil), rr...)
	r.ApplyBackward(dx, pos, heads)
	requireClose(t, reftest.NumGrad(x, loss), dx, 1e-5, "rope dx vs finite differences")
}

// manyPositions returns n positions, enough for the rope kernels to run in parallel chunks.
func manyPositions(n int) []int32 {
	pos := make([]int32, n)
	for i := range pos {
		pos[i] = int32(i*37%500 + i/3)
	}
	return pos
}
