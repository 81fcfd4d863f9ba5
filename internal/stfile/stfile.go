// Package stfile reads and writes safetensors files for valora.
//
// Reading memory-maps the file (copy-on-write, so an in-place merge of an adapter touches only
// the pages it changes) and exposes each tensor as a view into the mapping: nothing is copied
// until a caller asks for a converted copy. Parsing and offset validation are done by
// github.com/nlpodyssey/safetensors; this package adds the mapping, error messages that name the
// file and tensor, dtype conversion (with internal/kern's converters) and writing (atomically,
// through internal/atomicfile).
package stfile

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"sort"
	"unsafe"

	"github.com/nlpodyssey/safetensors"

	"github.com/valora-go/valora/internal/kern"
)

// Tensor is a view of one tensor inside a mapped file.
type Tensor struct {
	Name  string
	DType string // safetensors spelling: "F32", "BF16", "F16", "I64", ...
	Shape []int
	Data  []byte // a view into the mapping; valid until the File is closed
}

// Len is the number of elements.
func (t Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is an open, memory-mapped safetensors file.
type File struct {
	Path     string
	data     []byte
	unmap    func() error
	tensors  map[string]Tensor
	names    []string
	metadata map[string]string
}

// Open maps path and parses its header. The header, the offsets and the file length are
// validated; a malformed file is an error that names it.
func Open(path string) (*File, error) {
	data, unmap, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	f, err := parse(path, data)
	if err != nil {
		_ = unmap()
		return nil, err
	}
	f.unmap = unmap
	return f, nil
}

// Parse reads a safetensors image already in memory (nothing is mapped; Close is a no-op).
// name is used in error messages.
func Parse(name string, data []byte) (*File, error) {
	f, err := parse(name, data)
	if err != nil {
		return nil, err
	}
	f.unmap = func() error { return nil }
	return f, nil
}

func parse(path string, data []byte) (f *File, err error) {
	defer func() { // the parser must never take a valora user down
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("safetensors %s: malformed file: %v", path, r)
		}
	}()
	if len(data) < 8 {
		return nil, fmt.Errorf("safetensors %s: file is %d bytes, shorter than the 8-byte header length", path, len(data))
	}
	hdr := le64(data)
	if hdr > uint64(len(data)-8) {
		return nil, fmt.Errorf("safetensors %s: header length %d runs past the end of the %d-byte file (truncated or not a safetensors file)", path, hdr, len(data))
	}
	if err := checkHeader(path, data[8:8+hdr], uint64(len(data))-8-hdr, uint64(len(data))); err != nil {
		return nil, err
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	_, md, err := safetensors.ReadMetadata(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	f = &File{Path: path, data: data, tensors: map[string]Tensor{}, metadata: md.Metadata()}
	for _, nv := range st.Tensors() {
		tv := nv.TensorView
		shape := make([]int, len(tv.Shape()))
		for i, d := range tv.Shape() {
			shape[i] = int(d)
		}
		f.tensors[nv.Name] = Tensor{Name: nv.Name, DType: tv.DType().String(), Shape: shape, Data: tv.Data()}
		f.names = append(f.names, nv.Name)
	}
	sort.Strings(f.names)
	return f, nil
}

// Names lists the tensors, sorted.
func (f *File) Names() []string { return f.names }

// Tensor returns the named tensor.
func (f *File) Tensor(name string) (Tensor, bool) {
	t, ok := f.tensors[name]
	return t, ok
}

// Metadata is the header's __metadata__ map (may be nil).
func (f *File) Metadata() map[string]string { return f.metadata }

// Close unmaps the file. Views obtained from it must not be used afterwards.
func (f *File) Close() error {
	if f == nil || f.unmap == nil {
		return nil
	}
	err := f.unmap()
	f.unmap, f.data, f.tensors = nil, nil, nil
	return err
}

// Float32 returns the tensor's values as float32. F32 data that is suitably aligned is
// returned as a view (no copy); everything else (BF16, F16, F64, unaligned F32) is converted
// into a new slice.
func (t Tensor) Float32() ([]float32, error) {
	n := t.Len()
	switch t.DType {
	case "F32":
		if v, ok := ViewF32(t.Data); ok {
			return v, nil
		}
		return decode(t.Data, n, 4, func(b []byte) float32 { return math.Float32frombits(le32(b)) }), nil
	case "BF16":
		return decode(t.Data, n, 2, func(b []byte) float32 { return kern.BF16ToF32(le16(b)) }), nil
	case "F16":
		return decode(t.Data, n, 2, func(b []byte) float32 { return kern.F16ToF32(le16(b)) }), nil
	case "F64":
		return decode(t.Data, n, 8, func(b []byte) float32 { return float32(math.Float64frombits(le64(b))) }), nil
	}
	return nil, fmt.Errorf("tensor %s: dtype %s is not a floating-point type", t.Name, t.DType)
}

// Uint16 returns BF16/F16 data as raw 16-bit words, as a view when aligned.
func (t Tensor) Uint16() ([]uint16, error) {
	if t.DType != "BF16" && t.DType != "F16" {
		return nil, fmt.Errorf("tensor %s: dtype %s is not a 16-bit float", t.Name, t.DType)
	}
	if len(t.Data) == 0 {
		return nil, nil
	}
	if uintptr(unsafe.Pointer(&t.Data[0]))%2 == 0 {
		return unsafe.Slice((*uint16)(unsafe.Pointer(&t.Data[0])), len(t.Data)/2), nil
	}
	return decode(t.Data, len(t.Data)/2, 2, le16), nil
}

// Int64 returns integer tensors (I64, I32) as int64 values.
func (t Tensor) Int64() ([]int64, error) {
	switch t.DType {
	case "I64":
		return decode(t.Data, t.Len(), 8, func(b []byte) int64 { return int64(le64(b)) }), nil
	case "I32":
		return decode(t.Data, t.Len(), 4, func(b []byte) int64 { return int64(int32(le32(b))) }), nil
	}
	return nil, fmt.Errorf("tensor %s: dtype %s is not an integer type", t.Name, t.DType)
}

// decode converts n little-endian values of size bytes each from data into a new slice.
func decode[T any](data []byte, n, size int, conv func([]byte) T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = conv(data[size*i:])
	}
	return out
}

// ViewF32 reinterprets little-endian float32 bytes in place when the slice is 4-byte aligned.
func ViewF32(b []byte) ([]float32, bool) {
	if len(b) == 0 {
		return nil, true
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4), true
}

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// ErrNotFound is returned (wrapped) when a file does not exist.
var ErrNotFound = errors.New("not found")

func statErr(path string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	return err
}

// statRegular stats path (following symbolic links, as in the Hugging Face cache) and refuses
// anything but a regular file.
func statRegular(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return statErr(path, err)
	}
	return regular(path, st)
}

// regular refuses a file that is not a regular file.
func regular(path string, st os.FileInfo) error {
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (mode %s)", path, st.Mode())
	}
	return nil
}

// dtypeSizes are the element sizes of the safetensors dtypes.
var dtypeSizes = map[string]uint64{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}

// checkHeader validates the JSON header against the data section before the parser sees it, so
// that a truncated file, an offset past the end or trailing bytes are errors with the numbers
// (expected and actual bytes) rather than the parser's "metadata incomplete buffer".
func checkHeader(path string, hdr []byte, dataLen, fileLen uint64) error {
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &entries); err != nil {
		return fmt.Errorf("safetensors %s: header (%d bytes) is not a JSON object: %w", path, len(hdr), err)
	}
	var end uint64
	for name, raw := range entries {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			DType   string   `json:"dtype"`
			Shape   []uint64 `json:"shape"`
			Offsets []uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("safetensors %s: tensor %s: malformed header entry: %w", path, name, err)
		}
		size, ok := dtypeSizes[e.DType]
		if !ok {
			return fmt.Errorf("safetensors %s: tensor %s: unknown dtype %q", path, name, e.DType)
		}
		if len(e.Offsets) != 2 || e.Offsets[0] > e.Offsets[1] {
			return fmt.Errorf("safetensors %s: tensor %s: data_offsets %v, want [begin, end] with begin <= end", path, name, e.Offsets)
		}
		n := size
		for _, d := range e.Shape {
			hi, lo := bits.Mul64(n, d)
			if hi != 0 || lo > dataLen {
				return fmt.Errorf("safetensors %s: tensor %s: shape %v of %s needs more bytes than the %d-byte data section holds", path, name, e.Shape, e.DType, dataLen)
			}
			n = lo
		}
		if got := e.Offsets[1] - e.Offsets[0]; got != n {
			return fmt.Errorf("safetensors %s: tensor %s: shape %v of %s needs %d bytes, data_offsets %v span %d", path, name, e.Shape, e.DType, n, e.Offsets, got)
		}
		if e.Offsets[1] > dataLen {
			return fmt.Errorf("safetensors %s: tensor %s: data_offsets %v run past the end of the %d-byte data section: the file is %d bytes, the header implies at least %d (truncated?)",
				path, name, e.Offsets, dataLen, fileLen, fileLen-dataLen+e.Offsets[1])
		}
		end = max(end, e.Offsets[1])
	}
	if end < dataLen {
		return fmt.Errorf("safetensors %s: %d trailing bytes after the last tensor: the header implies a %d-byte file, it is %d bytes", path, dataLen-end, fileLen-dataLen+end, fileLen)
	}
	return nil
}

// ReadIntoMemory makes Open read files into memory instead of mapping them (also set by the
// environment variable VALORA_NO_MMAP=1). A mapped file that another process truncates or
// rewrites while it is mapped makes the next read of a vanished page raise SIGBUS, which kills
// the process (Go turns it into a recoverable panic only with debug.SetPanicOnFault on the
// faulting goroutine, and the forward pass reads weights from many worker goroutines). Weights
// read into memory cost their size in RAM and load slower, but nothing done to the file after
// loading can affect the process. Set it before loading.
var ReadIntoMemory bool

func readIntoMemory() bool { return ReadIntoMemory || os.Getenv("VALORA_NO_MMAP") == "1" }
