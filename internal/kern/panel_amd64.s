//go:build !purego

#include "textflag.h"

// func panelDot16AVX2(x, p *float32, k, stride int, y *float32)
//
// y[j] = Σ_{q<k} x[q]·p[q*stride+j] for j < 16: two 8-wide columns, k
// unrolled by four into eight accumulators (FMA latency x throughput).
TEXT ·panelDot16AVX2(SB), NOSPLIT, $0-40
	MOVQ   x+0(FP), SI
	MOVQ   p+8(FP), DI
	MOVQ   k+16(FP), CX
	MOVQ   stride+24(FP), DX
	SHLQ   $2, DX
	MOVQ   y+32(FP), R8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	CMPQ   CX, $4
	JLT    gemvtail

gemv4:
	VBROADCASTSS 0(SI), Y8
	VFMADD231PS  (DI), Y8, Y0
	VFMADD231PS  32(DI), Y8, Y1
	ADDQ         DX, DI
	VBROADCASTSS 4(SI), Y9
	VFMADD231PS  (DI), Y9, Y2
	VFMADD231PS  32(DI), Y9, Y3
	ADDQ         DX, DI
	VBROADCASTSS 8(SI), Y10
	VFMADD231PS  (DI), Y10, Y4
	VFMADD231PS  32(DI), Y10, Y5
	ADDQ         DX, DI
	VBROADCASTSS 12(SI), Y11
	VFMADD231PS  (DI), Y11, Y6
	VFMADD231PS  32(DI), Y11, Y7
	ADDQ         DX, DI
	ADDQ         $16, SI
	SUBQ         $4, CX
	CMPQ         CX, $4
	JGE          gemv4

gemvtail:
	TESTQ CX, CX
	JEQ   gemvsum

gemv1:
	VBROADCASTSS 0(SI), Y8
	VFMADD231PS  (DI), Y8, Y0
	VFMADD231PS  32(DI), Y8, Y1
	ADDQ         DX, DI
	ADDQ         $4, SI
	DECQ         CX
	JNE          gemv1

gemvsum:
	VADDPS     Y2, Y0, Y0
	VADDPS     Y3, Y1, Y1
	VADDPS     Y6, Y4, Y4
	VADDPS     Y7, Y5, Y5
	VADDPS     Y4, Y0, Y0
	VADDPS     Y5, Y1, Y1
	VMOVUPS    Y0, (R8)
	VMOVUPS    Y1, 32(R8)
	VZEROUPPER
	RET

// func panelDot32AVX2(x, p *float32, k int, y *float32)
//
// y[j] = Σ_{q<k} x[q]·p[q*32+j] for j < 32: a panel of width 32 read row by
// row (128 contiguous bytes a step), k unrolled by two into eight
// accumulators.
TEXT ·panelDot32AVX2(SB), NOSPLIT, $0-32
	MOVQ   x+0(FP), SI
	MOVQ   p+8(FP), DI
	MOVQ   k+16(FP), CX
	MOVQ   y+24(FP), R8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	CMPQ   CX, $2
	JLT    wide1

wide2:
	VBROADCASTSS 0(SI), Y8
	VBROADCASTSS 4(SI), Y9
	VFMADD231PS  (DI), Y8, Y0
	VFMADD231PS  32(DI), Y8, Y1
	VFMADD231PS  64(DI), Y8, Y2
	VFMADD231PS  96(DI), Y8, Y3
	VFMADD231PS  128(DI), Y9, Y4
	VFMADD231PS  160(DI), Y9, Y5
	VFMADD231PS  192(DI), Y9, Y6
	VFMADD231PS  224(DI), Y9, Y7
	ADDQ         $256, DI
	ADDQ         $8, SI
	SUBQ         $2, CX
	CMPQ         CX, $2
	JGE          wide2

wide1:
	TESTQ CX, CX
	JEQ   widesum
	VBROADCASTSS 0(SI), Y8
	VFMADD231PS  (DI), Y8, Y0
	VFMADD231PS  32(DI), Y8, Y1
	VFMADD231PS  64(DI), Y8, Y2
	VFMADD231PS  96(DI), Y8, Y3

widesum:
	VADDPS     Y4, Y0, Y0
	VADDPS     Y5, Y1, Y1
	VADDPS     Y6, Y2, Y2
	VADDPS     Y7, Y3, Y3
	VMOVUPS    Y0, (R8)
	VMOVUPS    Y1, 32(R8)
	VMOVUPS    Y2, 64(R8)
	VMOVUPS    Y3, 96(R8)
	VZEROUPPER
	RET
