//go:build ignore

// gen_avx512 writes gemm_avx512_amd64.s, the AVX-512F Gemm micro-kernels
// (go generate in internal/kern). A kernel of an mr x 16·nv tile keeps its
// mr·nv accumulators in the top ZMM registers (Z31 down), loads the nv
// vectors of a packed B row into Z0.., and broadcasts each packed A value
// once into a register shared by its nv FMAs ("reg"; "emb" uses embedded
// broadcasts, VFMADD231PS.BCST, one per FMA, which measured slower on Zen 5).
// The k loop is unrolled and prefetches A a few iterations ahead; the C tile
// is prefetched before the loop. Contract as sgemmKern6x16 in gemm_amd64.s.
package main

import (
	"fmt"
	"os"
	"strings"
)

var w strings.Builder

func p(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }

// kernel emits an mr x (16*nv) kernel. bcast: "emb" (embedded broadcast) or "reg".
func kernel(name string, mr, nv int, bcast string, unroll int) {
	nr := 16 * nv
	acc0 := 32 - mr*nv
	accReg := func(i, v int) string { return fmt.Sprintf("Z%d", acc0+i*nv+v) }
	bregs := fmt.Sprintf("Z%d..Z%d", nv, nv+1)
	if bcast == "emb" {
		bregs = "embedded broadcasts"
	}
	p("// %s: %dx%d tile, accumulators Z%d..Z31 (row i in Z%d+%d·i..),", name, mr, nr, acc0, acc0, nv)
	p("// packed B row in Z0..Z%d, A values broadcast into %s; k unrolled x%d.", nv-1, bregs, unroll)
	p("//")
	p("// func %s(kc int, a, b, c *float32, ldc int, alpha, beta float32, mode int)", name)
	prologue(name, 56, mr, nv, accReg)
	p("\tMOVQ CX, BX")
	p("\tSHRQ $%d, BX", log2(unroll))
	p("\tANDQ $%d, CX", unroll-1)
	p("\tTESTQ BX, BX")
	p("\tJZ %s_rem", name)
	p("%s_loop:", name)
	abytes, bbytes := mr*4, nr*4
	for s := 0; s < unroll; s++ {
		step(mr, nv, bcast, packedA(s*abytes), s*bbytes, accReg)
	}
	for off := 0; off < unroll*abytes; off += 64 {
		p("\tPREFETCHT0 %d(SI)", off+unroll*abytes*4)
	}
	p("\tADDQ $%d, SI", unroll*abytes)
	p("\tADDQ $%d, DI", unroll*bbytes)
	p("\tDECQ BX")
	p("\tJNZ %s_loop", name)
	p("%s_rem:", name)
	p("\tTESTQ CX, CX")
	p("\tJZ %s_store", name)
	p("%s_loop1:", name)
	step(mr, nv, bcast, packedA(0), 0, accReg)
	p("\tADDQ $%d, SI", abytes)
	p("\tADDQ $%d, DI", bbytes)
	p("\tDECQ CX")
	p("\tJNZ %s_loop1", name)
	storeC(name, mr, nv, accReg)
	p("")
}

// prologue emits a kernel's TEXT line (args bytes of arguments), loads kc
// (CX), a (SI), b (DI), c (DX) and ldc in bytes (R8), prefetches the C tile
// and zeroes the accumulators.
func prologue(name string, args, mr, nv int, accReg func(i, v int) string) {
	nr := 16 * nv
	p("TEXT ·%s(SB), NOSPLIT, $0-%d", name, args)
	p("\tMOVQ kc+0(FP), CX")
	p("\tMOVQ a+8(FP), SI")
	p("\tMOVQ b+16(FP), DI")
	p("\tMOVQ c+24(FP), DX")
	p("\tMOVQ ldc+32(FP), R8")
	p("\tSHLQ $2, R8")
	p("\tMOVQ DX, AX")
	for i := 0; i < mr; i++ {
		for off := 0; off < nr*4; off += 64 {
			p("\tPREFETCHT0 %d(AX)", off)
		}
		p("\tPREFETCHT0 %d(AX)", nr*4-1)
		if i < mr-1 {
			p("\tADDQ R8, AX")
		}
	}
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			r := accReg(i, v)
			p("\tVPXORD %s, %s, %s", r, r, r)
		}
	}
}

// storeC emits the kernel's epilogue at label name_store: C = alpha·acc
// (mode 0), alpha·acc + C (mode 1) or alpha·acc + beta·C (mode 2); DX is C,
// R8 its row stride in bytes.
func storeC(name string, mr, nv int, accReg func(i, v int) string) {
	p("%s_store:", name)
	p("\tVBROADCASTSS alpha+40(FP), Z0")
	p("\tMOVQ mode+48(FP), AX")
	p("\tCMPQ AX, $1")
	p("\tJEQ %s_add", name)
	p("\tJGT %s_general", name)
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			p("\tVMULPS Z0, %s, %s", accReg(i, v), accReg(i, v))
			p("\tVMOVUPS %s, %d(DX)", accReg(i, v), 64*v)
		}
		p("\tADDQ R8, DX")
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("%s_add:", name)
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			p("\tVFMADD213PS %d(DX), Z0, %s", 64*v, accReg(i, v))
			p("\tVMOVUPS %s, %d(DX)", accReg(i, v), 64*v)
		}
		p("\tADDQ R8, DX")
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("%s_general:", name)
	p("\tVBROADCASTSS beta+44(FP), Z1")
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			t := fmt.Sprintf("Z%d", 2+v)
			p("\tVMULPS %d(DX), Z1, %s", 64*v, t)
			p("\tVFMADD231PS Z0, %s, %s", accReg(i, v), t)
			p("\tVMOVUPS %s, %d(DX)", t, 64*v)
		}
		p("\tADDQ R8, DX")
	}
	p("\tVZEROUPPER")
	p("\tRET")
}

// step emits one k step: the packed B row at bo(DI) and A value i at
// aoff(i)(SI).
func step(mr, nv int, bcast string, aoff func(i int) int, bo int, accReg func(i, v int) string) {
	for v := 0; v < nv; v++ {
		p("\tVMOVUPS %d(DI), Z%d", bo+64*v, v)
	}
	for i := 0; i < mr; i++ {
		if bcast == "emb" {
			for v := 0; v < nv; v++ {
				p("\tVFMADD231PS.BCST %d(SI), Z%d, %s", aoff(i), v, accReg(i, v))
			}
			continue
		}
		t := fmt.Sprintf("Z%d", nv+i%2)
		p("\tVBROADCASTSS %d(SI), %s", aoff(i), t)
		for v := 0; v < nv; v++ {
			p("\tVFMADD231PS Z%d, %s, %s", v, t, accReg(i, v))
		}
	}
}

// packedA addresses a packed A micro-panel (mr values per k step) at byte
// offset ao.
func packedA(ao int) func(i int) int { return func(i int) int { return ao + 4*i } }

// kernelPanelA emits the mr x (16*nv) kernel that reads A in place from a
// weight in panel layout of width pw (pw a multiple of 4): value (i, p) of
// the tile's A at a + (p/pw)·ps + i·pw + p%pw floats, ps (the ninth argument)
// the panel stride in floats, kc a multiple of pw. The A rows of a panel
// (mr·pw floats, 2 lines a row for pw = 32) are prefetched two panels ahead.
// Contract otherwise as kernel's.
func kernelPanelA(name string, mr, nv, pw int) {
	const unroll = 4
	nr := 16 * nv
	acc0 := 32 - mr*nv
	accReg := func(i, v int) string { return fmt.Sprintf("Z%d", acc0+i*nv+v) }
	p("// %s: %dx%d tile as %s, A read in place from panels of width %d.", name, mr, nr, "kernel's", pw)
	p("//")
	p("// func %s(kc int, a, b, c *float32, ldc int, alpha, beta float32, mode int, ps int)", name)
	prologue(name, 64, mr, nv, accReg)
	p("\tMOVQ ps+56(FP), R10")
	p("\tSHLQ $2, R10")
	p("\tSHRQ $%d, CX", log2(pw))
	p("%s_panel:", name)
	for i := 0; i < mr; i++ {
		for off := 0; off < pw*4; off += 64 {
			p("\tPREFETCHT0 %d(SI)(R10*2)", i*pw*4+off)
		}
	}
	p("\tMOVQ SI, R9")
	p("\tMOVQ $%d, BX", pw/unroll)
	p("%s_loop:", name)
	for s := 0; s < unroll; s++ {
		step(mr, nv, "reg", func(i int) int { return i*pw*4 + s*4 }, s*nr*4, accReg)
	}
	p("\tADDQ $%d, SI", unroll*4)
	p("\tADDQ $%d, DI", unroll*nr*4)
	p("\tDECQ BX")
	p("\tJNZ %s_loop", name)
	p("\tMOVQ R9, SI")
	p("\tADDQ R10, SI")
	p("\tDECQ CX")
	p("\tJNZ %s_panel", name)
	storeC(name, mr, nv, accReg)
	p("")
}

func log2(n int) int {
	k := 0
	for 1<<k < n {
		k++
	}
	return k
}

func main() {
	p("// Code generated by gen_avx512.go; DO NOT EDIT.")
	p("")
	p("//go:build !purego")
	p("")
	p("// AVX-512F micro-kernels of the packed Gemm (see gemm_amd64.go).")
	p("")
	p("#include \"textflag.h\"")
	p("")
	kernel("sgemmKern12x32", 12, 2, "reg", 4)
	kernel("sgemmKern6x64", 6, 4, "reg", 4)
	kernelPanelA("sgemmKern12x32P", 12, 2, 32)
	if err := os.WriteFile(os.Args[1], []byte(w.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
