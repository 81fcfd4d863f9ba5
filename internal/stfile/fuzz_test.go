package stfile

import (
	"os"
	"testing"
)

// FuzzParse: no safetensors image makes the parser panic, and every tensor of an accepted file
// lies within it with the bytes its shape needs.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"../../testdata/llama-tiny/adapter/adapter_model.safetensors"} {
		if raw, err := os.ReadFile(p); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte("\x3a\x00\x00\x00\x00\x00\x00\x00{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}    \x00\x00\x80\x3f\x00\x00\x00\x40"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		for _, n := range file.Names() {
			tn, _ := file.Tensor(n)
			if size, ok := dtypeSizes[tn.DType]; ok && uint64(len(tn.Data)) != size*uint64(tn.Len()) {
				t.Fatalf("tensor %s: %d bytes for shape %v of %s", n, len(tn.Data), tn.Shape, tn.DType)
			}
			if _, err := tn.Float32(); err != nil && (tn.DType == "F32" || tn.DType == "BF16" || tn.DType == "F16" || tn.DType == "F64") {
				t.Fatal(err)
			}
		}
	})
}
