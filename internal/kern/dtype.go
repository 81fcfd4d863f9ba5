package kern

import (
	"fmt"
	"math"
)

// DType is the storage precision of a Weight.
type DType uint8

// Storage precisions.
const (
	F32 DType = iota
	BF16
	F16
)

// String returns the lower-case name used in configs and errors ("f32", "bf16", "f16").
func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

var dtypeNames = [...]string{F32: "f32", BF16: "bf16", F16: "f16"}

// Weight is a frozen [Rows=out, Cols=in] matrix as in a Hugging Face nn.Linear,
// held once in its on-disk precision: F32 uses the F32 field, BF16 and F16 use
// Half (raw IEEE bits). It is never widened to a second full float32 copy.
// F32 is row-major unless Panel > 0: then it holds the rows in the Gemm
// kernel's panel order (PackPanels; RowMajor maps an index back).
type Weight struct {
	Rows, Cols int
	DType      DType
	F32        []float32
	Half       []uint16
	Panel      int // 0: row-major; else rows grouped by Panel, see panel.go
}

// Validate checks that the storage matches Rows*Cols and DType.
func (w *Weight) Validate() error {
	if w == nil {
		return fmt.Errorf("kern: weight is nil")
	}
	if w.Rows < 0 || w.Cols < 0 {
		return fmt.Errorf("kern: weight shape [%d,%d]: negative dimension", w.Rows, w.Cols)
	}
	n := w.Rows * w.Cols
	switch w.DType {
	case F32:
		if len(w.F32) != n {
			return fmt.Errorf("kern: f32 weight [%d,%d]: len(F32)=%d, want %d", w.Rows, w.Cols, len(w.F32), n)
		}
		if w.Half != nil {
			return fmt.Errorf("kern: f32 weight [%d,%d]: Half must be nil, has %d values", w.Rows, w.Cols, len(w.Half))
		}
		if w.Panel < 0 || w.Panel > 0 && w.Rows%w.Panel != 0 {
			return fmt.Errorf("kern: f32 weight [%d,%d]: panel width %d does not divide the rows", w.Rows, w.Cols, w.Panel)
		}
	case BF16, F16:
		if len(w.Half) != n {
			return fmt.Errorf("kern: %s weight [%d,%d]: len(Half)=%d, want %d", w.DType, w.Rows, w.Cols, len(w.Half), n)
		}
		if w.F32 != nil || w.Panel != 0 {
			return fmt.Errorf("kern: %s weight [%d,%d]: F32 must be nil and Panel 0, have %d values and %d", w.DType, w.Rows, w.Cols, len(w.F32), w.Panel)
		}
	default:
		return fmt.Errorf("kern: weight [%d,%d]: unknown dtype %s", w.Rows, w.Cols, w.DType)
	}
	return nil
}

// RowF32 decodes row i into dst (len Cols).
func (w *Weight) RowF32(i int, dst []float32) {
	w.decodeBlock(i, i+1, 0, w.Cols, dst)
}

// decodeBlock decodes rows [r0,r1) and columns [c0,c1) of w into dst as a
// row-major [r1-r0, c1-c0] block.
func (w *Weight) decodeBlock(r0, r1, c0, c1 int, dst []float32) {
	cw := c1 - c0
	dst = dst[:(r1-r0)*cw]
	for r := r0; r < r1; r++ {
		d := dst[(r-r0)*cw : (r-r0+1)*cw]
		off := r*w.Cols + c0
		switch w.DType {
		case F32:
			if w.Panel == 0 {
				copy(d, w.F32[off:off+cw])
				continue
			}
			for j := range d {
				d[j] = w.F32[panelIndex(r, c0+j, w.Cols, w.Panel)]
			}
		case BF16:
			src := w.Half[off : off+cw]
			for j, h := range src {
				d[j] = math.Float32frombits(uint32(h) << 16)
			}
		case F16:
			src := w.Half[off : off+cw]
			for j, h := range src {
				d[j] = F16ToF32(h)
			}
		default:
			panic(fmt.Sprintf("kern: unknown dtype %s", w.DType))
		}
	}
}

// BF16ToF32 widens a bfloat16 bit pattern (exact).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds f to bfloat16 with round-to-nearest-even, as torch does.
// Every NaN becomes the canonical quiet NaN 0x7FC0.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return 0x7fc0
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// F16ToF32 widens an IEEE binary16 bit pattern (exact, including subnormals,
// infinities and NaN payloads).
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf / nan
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	case man == 0:
		return math.Float32frombits(sign)
	}
	// subnormal: value = man * 2^-24, normalise
	e := uint32(113) // 127-15+1
	for man&0x400 == 0 {
		man <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (man&0x3ff)<<13)
}

// F32ToF16 rounds f to IEEE binary16 with round-to-nearest-even (overflow goes
// to infinity, NaN stays a quiet NaN).
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man != 0 {
			return sign | 0x7e00 | uint16(man>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign // rounds to zero (even below half the smallest subnormal)
		}
		man |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		rest := man & (1<<shift - 1)
		v := man >> shift
		if rest > half || (rest == half && v&1 == 1) {
			v++
		}
		return sign | uint16(v)
	}
	v := uint32(e)<<10 | man>>13
	rest := man & 0x1fff
	if rest > 0x1000 || (rest == 0x1000 && v&1 == 1) {
		v++ // may carry into the exponent, which is correct (up to inf)
	}
	return sign | uint16(v)
}
