package kern

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// halfCodecs are the conversions of the two 16-bit formats.
var halfCodecs = map[DType]struct {
	widen  func(uint16) float32
	narrow func(float32) uint16
}{
	BF16: {BF16ToF32, F32ToBF16},
	F16:  {F16ToF32, F32ToF16},
}

// TestHalfToF32 checks widening, bit for bit (NaN: any NaN).
func TestHalfToF32(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	nan := float32(math.NaN())
	for _, tc := range []struct {
		dt   DType
		bits uint16
		want float32
	}{
		{BF16, 0x3f80, 1.0},
		{BF16, 0xc020, -2.5},
		{BF16, 0x0000, 0},
		{BF16, 0x8000, negZero},
		{BF16, 0x0001, float32(math.Ldexp(1, -133))}, // smallest subnormal
		{BF16, 0x007f, float32(math.Ldexp(127, -133))},
		{BF16, 0x0080, float32(math.Ldexp(1, -126))}, // smallest normal
		{BF16, 0x7f7f, float32(math.Ldexp(255, 127-7))},
		{BF16, 0x7f80, float32(math.Inf(1))},
		{BF16, 0xff80, float32(math.Inf(-1))},
		{BF16, 0x7fc0, nan},

		{F16, 0x3c00, 1.0},
		{F16, 0xc100, -2.5},
		{F16, 0x8000, negZero},
		{F16, 0x0001, float32(math.Ldexp(1, -24))}, // smallest subnormal
		{F16, 0x0200, float32(math.Ldexp(1, -15))},
		{F16, 0x03ff, float32(math.Ldexp(1023, -24))}, // largest subnormal
		{F16, 0x0400, float32(math.Ldexp(1, -14))},    // smallest normal
		{F16, 0x7bff, 65504},
		{F16, 0x3555, float32(0.333251953125)},
		{F16, 0x7c00, float32(math.Inf(1))},
		{F16, 0xfc00, float32(math.Inf(-1))},
		{F16, 0x8001, -float32(math.Ldexp(1, -24))},
		{F16, 0x7e00, nan},
		{F16, 0xfc01, nan},
	} {
		got := halfCodecs[tc.dt].widen(tc.bits)
		if math.IsNaN(float64(tc.want)) {
			assert.True(t, math.IsNaN(float64(got)), "%s bits %#04x: got %v, want NaN", tc.dt, tc.bits, got)
		} else {
			assert.Equal(t, math.Float32bits(tc.want), math.Float32bits(got), "%s bits %#04x: got %v, want %v", tc.dt, tc.bits, got, tc.want)
		}
	}
}

// TestF32ToHalf checks rounding to nearest even, overflow and NaN.
func TestF32ToHalf(t *testing.T) {
	// bfloat16 keeps the high half of the float32 bits: its cases are float32 bit patterns.
	for _, tc := range []struct {
		name string
		in   uint32
		want uint16
	}{
		{"one", 0x3f800000, 0x3f80},
		{"-2.5", 0xc0200000, 0xc020},
		{"tie to even (down)", 0x3f808000, 0x3f80},
		{"tie to even (up)", 0x3f818000, 0x3f82},
		{"above tie", 0x3f808001, 0x3f81},
		{"below tie", 0x3f807fff, 0x3f80},
		{"negative tie", 0xbf818000, 0xbf82},
		{"max float rounds to inf", 0x7f7fffff, 0x7f80},
		{"inf", 0x7f800000, 0x7f80},
		{"-inf", 0xff800000, 0xff80},
		{"nan", 0x7fa00001, 0x7fc0},
		{"negative nan", 0xffc00000, 0x7fc0},
		{"subnormal tie", 0x00018000, 0x0002},
		{"-0", 0x80000000, 0x8000},
	} {
		assert.Equal(t, tc.want, F32ToBF16(math.Float32frombits(tc.in)), "bf16 %s", tc.name)
	}
	for _, tc := range []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3c00},
		{"-2.5", -2.5, 0xc100},
		{"tie to even (down)", float32(1 + math.Ldexp(1, -11)), 0x3c00},
		{"tie to even (up)", float32(1 + 3*math.Ldexp(1, -11)), 0x3c02},
		{"65504", 65504, 0x7bff},
		{"65519 rounds down", 65519, 0x7bff},
		{"65520 rounds to inf", 65520, 0x7c00},
		{"smallest subnormal", float32(math.Ldexp(1, -24)), 0x0001},
		{"half of smallest subnormal ties to zero", float32(math.Ldexp(1, -25)), 0x0000},
		{"0.75 of smallest subnormal", float32(math.Ldexp(3, -26)), 0x0001},
		{"1.5 of smallest subnormal ties to even", float32(math.Ldexp(3, -25)), 0x0002},
		{"subnormal to normal carry", float32(math.Ldexp(2047, -25)), 0x0400},
		{"tiny", 1e-10, 0x0000},
		{"inf", float32(math.Inf(1)), 0x7c00},
		{"-inf", float32(math.Inf(-1)), 0xfc00},
		{"nan", math.Float32frombits(0x7fc00000), 0x7e00},
	} {
		assert.Equal(t, tc.want, F32ToF16(tc.in), "f16 %s", tc.name)
	}
}

// TestHalfRoundTrip: every bit pattern but NaNs survives widening and narrowing.
func TestHalfRoundTrip(t *testing.T) {
	for dt, c := range halfCodecs {
		for h := 0; h < 1<<16; h++ {
			if f := c.widen(uint16(h)); !math.IsNaN(float64(f)) {
				require.Equal(t, uint16(h), c.narrow(f), "%s round trip %#04x", dt, h)
			}
		}
	}
}

func TestWeightValidateAndRow(t *testing.T) {
	cases := []struct {
		name string
		w    Weight
		err  string
	}{
		{"f32 ok", Weight{Rows: 2, Cols: 3, DType: F32, F32: make([]float32, 6)}, ""},
		{"bf16 ok", Weight{Rows: 2, Cols: 3, DType: BF16, Half: make([]uint16, 6)}, ""},
		{"f16 ok", Weight{Rows: 2, Cols: 3, DType: F16, Half: make([]uint16, 6)}, ""},
		{"f32 short", Weight{Rows: 2, Cols: 3, DType: F32, F32: make([]float32, 5)}, "len(F32)=5, want 6"},
		{"bf16 without half", Weight{Rows: 2, Cols: 3, DType: BF16, F32: make([]float32, 6)}, "len(Half)=0, want 6"},
		{"f16 with both", Weight{Rows: 2, Cols: 3, DType: F16, Half: make([]uint16, 6), F32: make([]float32, 6)}, "F32 must be nil"},
		{"negative", Weight{Rows: -1, Cols: 3, DType: F32}, "negative dimension"},
		{"unknown dtype", Weight{Rows: 1, Cols: 1, DType: 9}, "unknown dtype dtype(9)"},
	}
	for _, tc := range cases {
		err := tc.w.Validate()
		if tc.err == "" {
			assert.NoError(t, err, tc.name)
		} else {
			assert.ErrorContains(t, err, tc.err, tc.name)
		}
	}
	assert.Equal(t, "bf16", BF16.String())

	half := []uint16{0x3c00, 0xc100, 0x0001, 0x7bff}
	w := Weight{Rows: 2, Cols: 2, DType: F16, Half: half}
	row := make([]float32, 2)
	w.RowF32(1, row)
	assert.Equal(t, []float32{float32(math.Ldexp(1, -24)), 65504}, row)
	wb := Weight{Rows: 2, Cols: 2, DType: BF16, Half: []uint16{0x3f80, 0xc020, 0, 0}}
	wb.RowF32(0, row)
	assert.Equal(t, []float32{1, -2.5}, row)
}
