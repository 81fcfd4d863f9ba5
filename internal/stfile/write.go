package stfile

import (
	"fmt"
	"io"
	"unsafe"

	"github.com/nlpodyssey/safetensors"

	"github.com/valora-go/valora/internal/atomicfile"
)

// Entry is one tensor to write. Exactly one of F32, BF16 (raw bfloat16 bits) and I64 is set.
type Entry struct {
	Name  string
	Shape []int
	F32   []float32
	BF16  []uint16
	I64   []int64
}

// Write stores entries as a safetensors file at path, with metadata in the header. The file
// is written to a temporary name in the same directory, synced and renamed, so a reader never
// sees a half-written file.
func Write(path string, entries []Entry, metadata map[string]string) error {
	views, err := tensorViews(path, entries)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		return safetensors.SerializeToWriter(views, metadata, w)
	})
}

// Encode writes entries as a safetensors image to w, with metadata in the header; name is used
// in error messages. Write is the atomic file form.
func Encode(w io.Writer, name string, entries []Entry, metadata map[string]string) error {
	views, err := tensorViews(name, entries)
	if err != nil {
		return err
	}
	if err := safetensors.SerializeToWriter(views, metadata, w); err != nil {
		return fmt.Errorf("safetensors %s: %w", name, err)
	}
	return nil
}

// tensorViews checks entries and wraps them for the serializer (path names the file in errors).
func tensorViews(path string, entries []Entry) (map[string]safetensors.TensorView, error) {
	views := make(map[string]safetensors.TensorView, len(entries))
	for _, e := range entries {
		if _, dup := views[e.Name]; dup {
			return nil, fmt.Errorf("safetensors %s: tensor %s given twice", path, e.Name)
		}
		shape := make([]uint64, len(e.Shape))
		n := 1
		for i, d := range e.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors %s: tensor %s: negative dimension in shape %v", path, e.Name, e.Shape)
			}
			shape[i] = uint64(d)
			n *= d
		}
		var dt safetensors.DType
		var raw []byte
		set := 0
		for _, given := range []bool{e.F32 != nil, e.BF16 != nil, e.I64 != nil} {
			if given {
				set++
			}
		}
		if set != 1 {
			return nil, fmt.Errorf("safetensors %s: tensor %s: exactly one of F32, BF16 and I64 must be set", path, e.Name)
		}
		var count int
		switch {
		case e.F32 != nil:
			count, dt, raw = len(e.F32), safetensors.F32, f32Bytes(e.F32)
		case e.BF16 != nil:
			count, dt, raw = len(e.BF16), safetensors.BF16, u16Bytes(e.BF16)
		default:
			count, dt, raw = len(e.I64), safetensors.I64, i64Bytes(e.I64)
		}
		if count != n {
			return nil, fmt.Errorf("safetensors %s: tensor %s: %d values for shape %v (want %d)", path, e.Name, count, e.Shape, n)
		}
		tv, err := safetensors.NewTensorView(dt, shape, raw)
		if err != nil {
			return nil, fmt.Errorf("safetensors %s: tensor %s: %w", path, e.Name, err)
		}
		views[e.Name] = tv
	}
	return views, nil
}

func f32Bytes(v []float32) []byte {
	if len(v) == 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}

func u16Bytes(v []uint16) []byte {
	if len(v) == 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 2*len(v))
}

func i64Bytes(v []int64) []byte {
	if len(v) == 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 8*len(v))
}
