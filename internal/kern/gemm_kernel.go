package kern

import "os"

// microKernel computes acc[i][j] = Σ_p a[p*mr+i]·b[p*nr+j] over kc >= 1 steps
// (mr x nr its kernel's register tile) and stores into the mr x nr tile of c
// (row stride ldc): alpha·acc (mode 0, old C ignored), alpha·acc + C (mode 1)
// or alpha·acc + beta·C (mode 2).
type microKernel func(kc int, a, b, c []float32, ldc int, alpha, beta float32, mode int)

// microPanelKernel is microKernel with A read in place from a matrix in panel
// layout of width nr (the kernel's, as Weight.PackPanels stores a weight):
// value (i, p) of the mr x kc A tile at a[(p/nr)·ps + i·nr + p%nr], ps the
// panel stride, kc a multiple of nr. With W [k, n] in panel layout, row
// panel i0 of op(A) = Wᵀ at depth p0 (a multiple of nr) starts at
// W.F32[p0·n + i0·nr] with ps = n·nr.
type microPanelKernel func(kc int, a []float32, ps int, b, c []float32, ldc int, alpha, beta float32, mode int)

// gemmKernel describes one variant of the packed Gemm: its micro-kernel,
// register tile and cache blocking. A packed op(B) block of kc x nc is shared
// by the workers (L3); each worker packs up to mc rows of op(A) (mc x kc, L2)
// and streams kc x nr micro-panels of B through L1.
type gemmKernel struct {
	name   string // as KernelName reports it
	mr, nr int    // register tile (nr a multiple of 16 for the assembly packers)
	kc     int    // depth of a packed block
	mc     int    // rows of op(A) packed per worker at a time (a multiple of mr)
	nc     int    // columns of the shared packed op(B) block (a multiple of nr)
	micro  microKernel
	// microPA, if set, reads op(A) = Wᵀ in place from a weight in panel
	// layout of width nr (gemmSplit.aw).
	microPA microPanelKernel
}

// maxMR and maxNR bound the register tiles (microGo's stack accumulator).
const (
	maxMR = 16
	maxNR = 64
)

// fastKernel is the packed Gemm variant chosen at start-up: the best assembly
// kernel the CPU supports (AVX-512F, else AVX2+FMA, on amd64 without the
// purego tag), or nil, in which case Gemm uses its portable paths. The
// environment variable VALORA_GEMM_KERNEL set to a variant's name ("avx512",
// "avx2-fma", "purego") forces that variant if the CPU supports it (for
// benchmarks and tests of the other paths).
var fastKernel *gemmKernel

// dotK and axpyK are dot and axpy for the unpacked small-m Gemm and Linear
// paths: AVX2/FMA assembly where available (set at init), else the Go loops.
var (
	dotK  = dot
	axpyK = axpy
)

// Optional assembly packers of full op(B) panels (nil when absent; packBPanel
// then uses packBPanelGo), writing rows of dstStride floats. packT8* transpose
// 8 rows of the stored matrix (stride ld) by 8·n8 columns into
// dst[p*dstStride+r]; packN16Half widens kc rows of 16 half values into
// dst[p*dstStride+j]. The half ones index by DType. packNF32 copies kc rows
// of n floats (16 or 32) into dst[p*dstStride+j]; packAT12 copies kc rows of
// 12 floats into dst[p*12+i] (the A micro-panel of a transposed op(A) for a
// 12-row tile).
var (
	packT8F32   func(src []float32, ld int, dst []float32, n8, dstStride int)
	packNF32    func(src []float32, ld int, dst []float32, kc, dstStride, n int)
	packAT12    func(src []float32, ld int, dst []float32, kc int)
	packT8Half  [F16 + 1]func(src []uint16, ld int, dst []float32, n8, dstStride int)
	packN16Half [F16 + 1]func(src []uint16, ld int, dst []float32, kc, dstStride int)
)

// Portable variants: goKernel is the reference the assembly kernels are
// tested against; goKernelWide has the AVX-512 tile shape, to test the driver
// with it on every platform.
var (
	goKernel     = &gemmKernel{name: "purego", mr: 6, nr: 16, kc: 256, mc: 144, nc: 4096, micro: microGo(6, 16)}
	goKernelWide = &gemmKernel{name: "purego-12x32", mr: 12, nr: 32, kc: 192, mc: 192, nc: 4096, micro: microGo(12, 32),
		microPA: microPanelGo(12, 32)}
)

// gemmVariants lists the packed Gemm variants usable on this CPU: the
// assembly ones (best first), then the portable ones.
func gemmVariants() []*gemmKernel {
	return append(archKernels(), goKernel, goKernelWide)
}

func init() {
	archSetup()
	ks := archKernels()
	if len(ks) > 0 {
		fastKernel = ks[0]
	}
	if want := os.Getenv("VALORA_GEMM_KERNEL"); want != "" {
		if want == goKernel.name {
			fastKernel = nil
		}
		for _, k := range ks {
			if k.name == want {
				fastKernel = k
			}
		}
	}
}

// microGo returns the portable micro-kernel for an mr x nr tile.
func microGo(mr, nr int) microKernel {
	if mr > maxMR || nr > maxNR {
		panic("kern: microGo: tile too large")
	}
	return func(kc int, a, b, c []float32, ldc int, alpha, beta float32, mode int) {
		var acc [maxMR * maxNR]float32
		a = a[:kc*mr]
		b = b[:kc*nr]
		for p := 0; p < kc; p++ {
			bp := b[p*nr : p*nr+nr]
			for i := 0; i < mr; i++ {
				av := a[p*mr+i]
				row := acc[i*nr : i*nr+nr]
				for j, bv := range bp {
					row[j] += av * bv
				}
			}
		}
		for i := 0; i < mr; i++ {
			crow := c[i*ldc : i*ldc+nr]
			for j := range crow {
				v := alpha * acc[i*nr+j]
				switch mode {
				case 0:
					crow[j] = v
				case 1:
					crow[j] += v
				default:
					crow[j] = beta*crow[j] + v
				}
			}
		}
	}
}

// microPanelGo returns the portable microPanelKernel of an mr x nr tile.
func microPanelGo(mr, nr int) microPanelKernel {
	micro := microGo(mr, nr)
	return func(kc int, a []float32, ps int, b, c []float32, ldc int, alpha, beta float32, mode int) {
		if kc%nr != 0 {
			panic("kern: gemm: panel micro-kernel depth")
		}
		var buf [maxMR * 512]float32
		packed := buf[:0]
		if kc*mr > len(buf) {
			packed = make([]float32, 0, kc*mr)
		}
		for p := 0; p < kc; p++ {
			for i := 0; i < mr; i++ {
				packed = append(packed, a[panelIndex(p, i, ps/nr, nr)])
			}
		}
		micro(kc, packed, b, c, ldc, alpha, beta, mode)
	}
}
