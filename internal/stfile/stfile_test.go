package stfile

import (
	"errors"
	"io"
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
	err = WriteAtomic(p, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return errors.New("disk on fire")
	})
	require.ErrorContains(t, err, "disk on fire")
	ents, _ := os.ReadDir(dir)
	require.Empty(t, ents, "no half-written or temporary file is left")
}

func TestHalfConversions(t *testing.T) {
	cases := []struct {
		bits uint16
		want float32
	}{
		{0x3c00, 1}, {0xc100, -2.5}, {0x0001, 5.960464477539063e-08}, {0x7bff, 65504},
		{0x7c00, float32(math.Inf(1))}, {0x8000, float32(math.Copysign(0, -1))},
	}
	for _, c := range cases {
		require.Equal(t, c.want, HalfToF32(c.bits), "%#04x", c.bits)
	}
	require.True(t, math.IsNaN(float64(HalfToF32(0x7e00))))
	bf := Tensor{Name: "b", DType: "BF16", Shape: []int{2}, Data: []byte{0x80, 0x3f, 0x20, 0xc0}}
	v, err := bf.Float32()
	require.NoError(t, err)
	require.Equal(t, []float32{1, -2.5}, v)
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

func TestWriteFileIsReadableByAll(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.json")
	require.NoError(t, WriteFile(p, []byte("{}")))
	st, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), st.Mode().Perm())
}
