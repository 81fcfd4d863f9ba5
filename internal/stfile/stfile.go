// Package stfile reads and writes safetensors files for valora.
//
// Reading memory-maps the file (copy-on-write, so an in-place merge of an adapter touches only
// the pages it changes) and exposes each tensor as a view into the mapping: nothing is copied
// until a caller asks for a converted copy. Parsing and offset validation are done by
// github.com/nlpodyssey/safetensors; this package adds the mapping, error messages that name the
// file and tensor, dtype conversion and atomic writing.
package stfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"sort"
	"unsafe"

	"github.com/nlpodyssey/safetensors"
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
	hdr := uint64(data[0]) | uint64(data[1])<<8 | uint64(data[2])<<16 | uint64(data[3])<<24 |
		uint64(data[4])<<32 | uint64(data[5])<<40 | uint64(data[6])<<48 | uint64(data[7])<<56
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
		out := make([]float32, n)
		for i := range out {
			out[i] = fromBits32(le32(t.Data[4*i:]))
		}
		return out, nil
	case "BF16":
		out := make([]float32, n)
		for i := range out {
			out[i] = fromBits32(uint32(le16(t.Data[2*i:])) << 16)
		}
		return out, nil
	case "F16":
		out := make([]float32, n)
		for i := range out {
			out[i] = HalfToF32(le16(t.Data[2*i:]))
		}
		return out, nil
	case "F64":
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(fromBits64(le64(t.Data[8*i:])))
		}
		return out, nil
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
	out := make([]uint16, len(t.Data)/2)
	for i := range out {
		out[i] = le16(t.Data[2*i:])
	}
	return out, nil
}

// Int64 returns integer tensors (I64, I32) as int64 values.
func (t Tensor) Int64() ([]int64, error) {
	n := t.Len()
	out := make([]int64, n)
	switch t.DType {
	case "I64":
		for i := range out {
			out[i] = int64(le64(t.Data[8*i:]))
		}
	case "I32":
		for i := range out {
			out[i] = int64(int32(le32(t.Data[4*i:])))
		}
	default:
		return nil, fmt.Errorf("tensor %s: dtype %s is not an integer type", t.Name, t.DType)
	}
	return out, nil
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

// HalfToF32 converts IEEE 754 binary16 bits to float32 (subnormals, infinities and NaN included).
func HalfToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0 && man == 0:
		return fromBits32(sign)
	case exp == 0: // subnormal: normalise
		e := uint32(127 - 15 + 1)
		for man&0x400 == 0 {
			man <<= 1
			e--
		}
		man &= 0x3ff
		return fromBits32(sign | e<<23 | man<<13)
	case exp == 0x1f:
		return fromBits32(sign | 0xff<<23 | man<<13)
	}
	return fromBits32(sign | (exp+127-15)<<23 | man<<13)
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }

func fromBits32(u uint32) float32 { return *(*float32)(unsafe.Pointer(&u)) }
func fromBits64(u uint64) float64 { return *(*float64)(unsafe.Pointer(&u)) }

// ErrNotFound is returned (wrapped) when a file does not exist.
var ErrNotFound = errors.New("not found")

func statErr(path string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	return err
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
