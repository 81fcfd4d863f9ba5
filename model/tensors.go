package model

import (
	"fmt"

	"github.com/valora-go/valora/internal/stfile"
)

// Tensor is a tensor read by ReadTensors: floating-point data widened to float32 in F32,
// integer data in I64.
type Tensor struct {
	Shape []int
	F32   []float32
	I64   []int64
}

// ReadTensors reads every tensor of a safetensors file into memory (copied, so the result
// outlives the file). It is meant for goldens, adapters and other small files; checkpoints are
// loaded with Load, which maps them instead.
func ReadTensors(path string) (map[string]Tensor, error) {
	f, err := stfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := make(map[string]Tensor, len(f.Names()))
	for _, n := range f.Names() {
		t, _ := f.Tensor(n)
		v := Tensor{Shape: append([]int(nil), t.Shape...)}
		switch t.DType {
		case "I64", "I32":
			v.I64, err = t.Int64()
		default:
			var view []float32
			view, err = t.Float32()
			v.F32 = append([]float32(nil), view...)
		}
		if err != nil {
			return nil, fmt.Errorf("safetensors %s: %w", path, err)
		}
		out[n] = v
	}
	return out, nil
}

// WriteTensors writes float32 or int64 tensors to a safetensors file atomically, with metadata
// in its header.
func WriteTensors(path string, tensors map[string]Tensor, metadata map[string]string) error {
	entries := make([]stfile.Entry, 0, len(tensors))
	for n, t := range tensors {
		entries = append(entries, stfile.Entry{Name: n, Shape: t.Shape, F32: t.F32, I64: t.I64})
	}
	return stfile.Write(path, entries, metadata)
}
