//go:build !purego

#include "textflag.h"

// One k step of the 6x16 micro-kernel: two 8-wide loads of the packed B row,
// six broadcasts of the packed A column, twelve FMAs into Y4..Y15.
#define STEP(ao, bo) \
	VMOVUPS      (bo)(DI), Y0; \
	VMOVUPS      (bo+32)(DI), Y1; \
	VBROADCASTSS (ao)(SI), Y2; \
	VFMADD231PS  Y0, Y2, Y4; \
	VFMADD231PS  Y1, Y2, Y5; \
	VBROADCASTSS (ao+4)(SI), Y3; \
	VFMADD231PS  Y0, Y3, Y6; \
	VFMADD231PS  Y1, Y3, Y7; \
	VBROADCASTSS (ao+8)(SI), Y2; \
	VFMADD231PS  Y0, Y2, Y8; \
	VFMADD231PS  Y1, Y2, Y9; \
	VBROADCASTSS (ao+12)(SI), Y3; \
	VFMADD231PS  Y0, Y3, Y10; \
	VFMADD231PS  Y1, Y3, Y11; \
	VBROADCASTSS (ao+16)(SI), Y2; \
	VFMADD231PS  Y0, Y2, Y12; \
	VFMADD231PS  Y1, Y2, Y13; \
	VBROADCASTSS (ao+20)(SI), Y3; \
	VFMADD231PS  Y0, Y3, Y14; \
	VFMADD231PS  Y1, Y3, Y15

// C row = alpha*acc (Y0 = alpha).
#define STORE0(lo, hi) \
	VMULPS  Y0, lo, lo; \
	VMULPS  Y0, hi, hi; \
	VMOVUPS lo, (DX); \
	VMOVUPS hi, 32(DX); \
	ADDQ    R8, DX

// C row += alpha*acc.
#define STORE1(lo, hi) \
	VFMADD213PS (DX), Y0, lo; \
	VFMADD213PS 32(DX), Y0, hi; \
	VMOVUPS     lo, (DX); \
	VMOVUPS     hi, 32(DX); \
	ADDQ        R8, DX

// C row = beta*C + alpha*acc (Y1 = beta).
#define STORE2(lo, hi) \
	VMULPS      (DX), Y1, Y2; \
	VMULPS      32(DX), Y1, Y3; \
	VFMADD231PS Y0, lo, Y2; \
	VFMADD231PS Y0, hi, Y3; \
	VMOVUPS     Y2, (DX); \
	VMOVUPS     Y3, 32(DX); \
	ADDQ        R8, DX

// func sgemmKern6x16(kc int, a, b, c *float32, ldc int, alpha, beta float32, mode int)
TEXT ·sgemmKern6x16(SB), NOSPLIT, $0-56
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	MOVQ CX, BX
	SHRQ $2, BX
	ANDQ $3, CX
	TESTQ BX, BX
	JZ   rem

loop4:
	STEP(0, 0)
	STEP(24, 64)
	STEP(48, 128)
	STEP(72, 192)
	ADDQ $96, SI
	ADDQ $256, DI
	DECQ BX
	JNZ  loop4

rem:
	TESTQ CX, CX
	JZ    store

loop1:
	STEP(0, 0)
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  loop1

store:
	VBROADCASTSS alpha+40(FP), Y0
	MOVQ         mode+48(FP), AX
	CMPQ         AX, $1
	JEQ          add
	JGT          general
	STORE0(Y4, Y5)
	STORE0(Y6, Y7)
	STORE0(Y8, Y9)
	STORE0(Y10, Y11)
	STORE0(Y12, Y13)
	STORE0(Y14, Y15)
	VZEROUPPER
	RET

add:
	STORE1(Y4, Y5)
	STORE1(Y6, Y7)
	STORE1(Y8, Y9)
	STORE1(Y10, Y11)
	STORE1(Y12, Y13)
	STORE1(Y14, Y15)
	VZEROUPPER
	RET

general:
	VBROADCASTSS beta+44(FP), Y1
	STORE2(Y4, Y5)
	STORE2(Y6, Y7)
	STORE2(Y8, Y9)
	STORE2(Y10, Y11)
	STORE2(Y12, Y13)
	STORE2(Y14, Y15)
	VZEROUPPER
	RET
