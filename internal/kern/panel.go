package kern

import (
	"sync"
	"sync/atomic"
)

// panelDot16Go is panelDot16 (y[j] = Σ_{q<k} x[q]·p[q*stride+j], j < 16) in
// portable Go.
func panelDot16Go(x, p []float32, k, stride int, y []float32) {
	var acc [16]float32
	for q := range k {
		xv := x[q]
		for j, v := range p[q*stride : q*stride+16] {
			acc[j] += xv * v
		}
	}
	copy(y[:16], acc[:])
}

// panelGemv computes out[m,w.Rows] = in[m,w.Cols]·Wᵀ (out += when accumulate)
// for the few rows of token-by-token decoding, from w in panel layout (width a
// multiple of 16): each panel's outputs accumulate over its contiguous block,
// which is read once per row of in. The packed driver would pad m to its
// register tile and so multiply by up to 12x more than it needs. Workers
// claim panels from a pooled task, so that a call allocates nothing.
func (th Threads) panelGemv(out, in []float32, m int, w *Weight, accumulate bool) {
	t := gemvPool.Get().(*gemvTask)
	t.out, t.in, t.m, t.w, t.accumulate = out, in, m, w, accumulate
	npan := w.Rows / w.Panel
	t.chunk = max(1, (1<<16)/(w.Cols*w.Panel)) // panels claimed at a time
	t.next.Store(0)
	runWorkers(t, max(1, min(th.workers(), npan/t.chunk)), &t.join)
	t.out, t.in, t.w = nil, nil, nil
	gemvPool.Put(t)
}

// gemvTask is the pooled state of one panelGemv call.
type gemvTask struct {
	out, in    []float32
	m          int
	w          *Weight
	accumulate bool
	chunk      int
	next       atomic.Int64 // next panel
	join       join
}

var gemvPool = sync.Pool{New: func() any { return new(gemvTask) }}

func (t *gemvTask) work(int) {
	w := t.w
	P, C, R := w.Panel, w.Cols, w.Rows
	var acc [32]float32
	for {
		p0 := int(t.next.Add(int64(t.chunk))) - t.chunk
		if p0 >= R/P {
			return
		}
		for pb := p0; pb < min(R/P, p0+t.chunk); pb++ {
			panel := w.F32[pb*C*P : (pb+1)*C*P]
			for i := range t.m {
				x := t.in[i*C : (i+1)*C]
				y := t.out[i*R+pb*P : i*R+(pb+1)*P]
				for h := 0; h < P; {
					n := 32
					if P != 32 || !panelDot32(x, panel, C, acc[:]) {
						n = 16
						panelDot16(x, panel[h:], C, P, acc[:16])
					}
					if !t.accumulate {
						copy(y[h:h+n], acc[:n])
					} else {
						for j, v := range acc[:n] {
							y[h+j] += v
						}
					}
					h += n
				}
			}
		}
	}
}

// panelIndex returns the storage index of element (r, c) of a [rows, cols]
// matrix in panel layout of width p.
func panelIndex(r, c, cols, p int) int {
	return (r/p)*cols*p + c*p + r%p
}

// RowMajor returns the row-major index (row·Cols + col) of storage index i of
// w's float32 data: i itself unless w is in panel layout.
func (w *Weight) RowMajor(i int) int {
	if w.Panel == 0 {
		return i
	}
	p, blk := w.Panel, w.Cols*w.Panel
	r := i/blk*p + i%blk%p
	return r*w.Cols + i%blk/p
}

// PackPanels puts a float32 weight into the panel layout of the Gemm kernel
// chosen at start-up, in place (through pooled scratch), so that forward
// products read it without packing. It reports whether it did: not for half
// precision, a weight already in panel layout, rows that are not a multiple of
// the kernel's panel width, or a build without a packed assembly kernel.
// Every kern function accepts either layout; only code that indexes F32
// itself must mind Panel (Weight.RowF32 decodes a row of either).
func (w *Weight) PackPanels() bool {
	if fastKernel == nil || w.DType != F32 || w.Panel != 0 || w.Rows%fastKernel.nr != 0 || len(w.F32) != w.Rows*w.Cols {
		return false
	}
	w.packPanels(fastKernel.nr)
	return true
}

// packPanels converts w (row-major float32, Rows a multiple of p) to panel
// layout of width p.
func (w *Weight) packPanels(p int) {
	n := w.Rows * w.Cols
	buf := getF32(n)
	src := buf.s[:n]
	copy(src, w.F32)
	C := w.Cols
	for r0 := 0; r0 < w.Rows; r0 += p {
		blk := w.F32[r0*C : (r0+p)*C]
		for i := 0; i < p; i++ {
			row := src[(r0+i)*C : (r0+i+1)*C]
			for c, v := range row {
				blk[c*p+i] = v
			}
		}
	}
	putF32(buf)
	w.Panel = p
}

// panelDirect returns panel j0/nr of op(B) at depth [p0,p0+kc) as stored,
// when b is a weight in panel layout of width nr read transposed (op(B) = Wᵀ)
// and column j0 is W's (not a stacked second source's); nil otherwise.
func (b bMat) panelDirect(nr, p0, kc, j0 int) []float32 {
	if b.panel != nr || !b.trans || b.split == splitCols && j0 >= b.at {
		return nil
	}
	off := (j0/nr)*b.ld*nr + p0*nr
	return b.f32[off : off+kc*nr]
}

// packPanelSrc is packBPanel from a weight in panel layout (b.panel > 0,
// float32, first source): a copy or width change when transposed, 8x8 block
// transposes (packT8F32) when not, where they apply.
func packPanelSrc(nr int, b bMat, p0, kc, j0, cols int, dst []float32) {
	dst = dst[:nr*kc]
	P, C := b.panel, b.ld
	if !b.trans && packT8F32 != nil && cols == nr && nr%8 == 0 && P%8 == 0 {
		// Rows p of op(B) are rows of W; within one panel of W the values of
		// 8 consecutive columns c (rows of the stored block, stride P) for 8
		// consecutive rows are an 8x8 transpose.
		for p := 0; p < kc; {
			r := p0 + p
			base := (r / P) * C * P
			lane := r % P
			n := min(P-lane, kc-p) // rows left in this panel of W
			if n8 := n / 8; n8 > 0 {
				for h := 0; h < nr; h += 8 {
					packT8F32(b.f32[base+(j0+h)*P+lane:], P, dst[p*nr+h:], n8, nr)
				}
				p += 8 * n8
				continue
			}
			for i := 0; i < n; i++ {
				d := dst[(p+i)*nr : (p+i)*nr+nr]
				for jj := range d {
					d[jj] = b.f32[base+(j0+jj)*P+lane+i]
				}
			}
			p += n
		}
		return
	}
	if cols < nr {
		clear(dst)
	}
	for p := 0; p < kc; p++ {
		d := dst[p*nr : p*nr+cols]
		for jj := range d {
			r, c := p0+p, j0+jj // op(B) = W
			if b.trans {
				r, c = c, r // op(B) = Wᵀ
			}
			d[jj] = b.f32[panelIndex(r, c, C, P)]
		}
	}
}
