package stfile

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteOpenRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.safetensors")
	f32 := []float32{1, -2.5, float32(math.Inf(1)), 3e-8}
	require.NoError(t, Write(p, []Entry{
		{Name: "w", Shape: []int{2, 2}, F32: f32},
		{Name: "ids", Shape: []int{3}, I64: []int64{-1, 0, 1 << 40}},
	}, map[string]string{"format": "pt"}))
	f, err := Open(p)
	require.NoError(t, err)
	defer f.Close()
	require.Equal(t, []string{"ids", "w"}, f.Names())
	require.Equal(t, "pt", f.Metadata()["format"])
	w, ok := f.Tensor("w")
	require.True(t, ok)
	require.Equal(t, []int{2, 2}, w.Shape)
	got, err := w.Float32()
	require.NoError(t, err)
	require.Equal(t, f32, got)
	ids, _ := f.Tensor("ids")
	iv, err := ids.Int64()
	require.NoError(t, err)
	require.Equal(t, []int64{-1, 0, 1 << 40}, iv)
	_, err = ids.Float32()
	require.ErrorContains(t, err, "not a floating-point type")
}

func TestWriteRejectsBadEntriesAndLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t.safetensors")
	err := Write(p, []Entry{{Name: "w", Shape: []int{3}, F32: []float32{1, 2}}}, nil)
	require.ErrorContains(t, err, "tensor w: 2 values for shape [3]")
	ents, _ := os.ReadDir(dir)
	require.Empty(t, ents, "no half-written or temporary file is left")
}

// TestFloat32Conversions: 16-bit and 64-bit tensors are widened to float32 (the binary16 and
// bfloat16 converters are internal/kern's, tested there).
func TestFloat32Conversions(t *testing.T) {
	cases := []struct {
		dtype string
		data  []byte
		want  []float32
	}{
		{"F16", []byte{0x00, 0x3c, 0x00, 0xc1, 0x01, 0x00, 0xff, 0x7b, 0x00, 0x7c, 0x00, 0x80},
			[]float32{1, -2.5, 5.960464477539063e-08, 65504, float32(math.Inf(1)), float32(math.Copysign(0, -1))}},
		{"BF16", []byte{0x80, 0x3f, 0x20, 0xc0}, []float32{1, -2.5}},
		{"F64", []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0x04, 0xc0}, []float32{1, -2.5}},
		{"F32", []byte{0xff, 0, 0, 0x80, 0x3f}[1:], []float32{1}}, // unaligned: copied
	}
	for _, c := range cases {
		tn := Tensor{Name: "x", DType: c.dtype, Shape: []int{len(c.want)}, Data: c.data}
		v, err := tn.Float32()
		require.NoError(t, err, c.dtype)
		require.Equal(t, c.want, v, c.dtype)
	}
	nan := Tensor{Name: "n", DType: "F16", Shape: []int{1}, Data: []byte{0x00, 0x7e}}
	v, err := nan.Float32()
	require.NoError(t, err)
	require.True(t, math.IsNaN(float64(v[0])))
}

func TestViewF32IsZeroCopyWhenAligned(t *testing.T) {
	buf := make([]float32, 4)
	b := (*[16]byte)(unsafePointer(buf))[:]
	v, ok := ViewF32(b)
	require.True(t, ok)
	v[1] = 7
	require.Equal(t, float32(7), buf[1])
	_, ok = ViewF32(b[1:13])
	require.False(t, ok)
}
