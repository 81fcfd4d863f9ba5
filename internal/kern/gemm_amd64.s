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

	// Prefetch the C tile (6 rows of 64 bytes, maybe split over two lines)
	// so that its misses overlap the k loop instead of stalling the stores.
	MOVQ       DX, AX
	PREFETCHT0 (AX)
	PREFETCHT0 63(AX)
	ADDQ       R8, AX
	PREFETCHT0 (AX)
	PREFETCHT0 63(AX)
	ADDQ       R8, AX
	PREFETCHT0 (AX)
	PREFETCHT0 63(AX)
	ADDQ       R8, AX
	PREFETCHT0 (AX)
	PREFETCHT0 63(AX)
	ADDQ       R8, AX
	PREFETCHT0 (AX)
	PREFETCHT0 63(AX)
	ADDQ       R8, AX
	PREFETCHT0 (AX)
	PREFETCHT0 63(AX)

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

// Transpose Y0..Y7 (8 rows of 8) into Y8..Y15 (8 columns), using Y0..Y7 as
// scratch: Y(8+c) holds element c of every input row.
#define TRANSPOSE8 \
	VUNPCKLPS  Y1, Y0, Y8; \
	VUNPCKHPS  Y1, Y0, Y9; \
	VUNPCKLPS  Y3, Y2, Y10; \
	VUNPCKHPS  Y3, Y2, Y11; \
	VUNPCKLPS  Y5, Y4, Y12; \
	VUNPCKHPS  Y5, Y4, Y13; \
	VUNPCKLPS  Y7, Y6, Y14; \
	VUNPCKHPS  Y7, Y6, Y15; \
	VSHUFPS    $0x44, Y10, Y8, Y0; \
	VSHUFPS    $0xEE, Y10, Y8, Y1; \
	VSHUFPS    $0x44, Y11, Y9, Y2; \
	VSHUFPS    $0xEE, Y11, Y9, Y3; \
	VSHUFPS    $0x44, Y14, Y12, Y4; \
	VSHUFPS    $0xEE, Y14, Y12, Y5; \
	VSHUFPS    $0x44, Y15, Y13, Y6; \
	VSHUFPS    $0xEE, Y15, Y13, Y7; \
	VPERM2F128 $0x20, Y4, Y0, Y8; \
	VPERM2F128 $0x20, Y5, Y1, Y9; \
	VPERM2F128 $0x20, Y6, Y2, Y10; \
	VPERM2F128 $0x20, Y7, Y3, Y11; \
	VPERM2F128 $0x31, Y4, Y0, Y12; \
	VPERM2F128 $0x31, Y5, Y1, Y13; \
	VPERM2F128 $0x31, Y6, Y2, Y14; \
	VPERM2F128 $0x31, Y7, Y3, Y15

// Store the 8 transposed columns at DI with a byte stride of R12 (AX = 3*R12,
// BX = 5*R12, DX = 7*R12), then advance DI by 8 rows.
#define STORECOLS \
	VMOVUPS Y8, (DI); \
	VMOVUPS Y9, (DI)(R12*1); \
	VMOVUPS Y10, (DI)(R12*2); \
	VMOVUPS Y11, (DI)(AX*1); \
	VMOVUPS Y12, (DI)(R12*4); \
	VMOVUPS Y13, (DI)(BX*1); \
	VMOVUPS Y14, (DI)(AX*2); \
	VMOVUPS Y15, (DI)(DX*1); \
	LEAQ    (DI)(R12*8), DI

// Destination addressing: R12 = ds*4 bytes (R12 = ds on entry), AX = 3*R12,
// BX = 5*R12, DX = 7*R12.
#define DSTREGS \
	SHLQ $2, R12; \
	LEAQ (R12)(R12*2), AX; \
	LEAQ (R12)(R12*4), BX; \
	LEAQ (AX)(R12*4), DX

// Row addressing for 8 rows at SI with byte stride R8: R9 = 3*R8,
// R10 = 5*R8, R11 = 7*R8.
#define ROWREGS \
	LEAQ (R8)(R8*2), R9; \
	LEAQ (R8)(R8*4), R10; \
	LEAQ (R9)(R8*4), R11

// Prefetch the 8 source rows at SI (ROWREGS addressing) off bytes ahead:
// the rows are read in short runs (kc values each), too short for the
// hardware prefetcher to get ahead of them when they come from memory.
// packBT8F32 looks 1 KiB (32 iterations, a memory latency) ahead: against
// 256 bytes, 384-row x·Wᵀ products with W from memory ran 1-7% faster on two
// workers in 5 of 6 shapes (Zen 5, best of 40, 2026-12-03).
#define PREFETCHROWS(off) \
	PREFETCHT0 off(SI); \
	PREFETCHT0 off(SI)(R8*1); \
	PREFETCHT0 off(SI)(R8*2); \
	PREFETCHT0 off(SI)(R9*1); \
	PREFETCHT0 off(SI)(R8*4); \
	PREFETCHT0 off(SI)(R10*1); \
	PREFETCHT0 off(SI)(R9*2); \
	PREFETCHT0 off(SI)(R11*1)

// func packBT8F32(src *float32, ld int, dst *float32, n8, ds int)
TEXT ·packBT8F32(SB), NOSPLIT, $0-40
	MOVQ src+0(FP), SI
	MOVQ ld+8(FP), R8
	SHLQ $2, R8
	MOVQ dst+16(FP), DI
	MOVQ n8+24(FP), CX
	ROWREGS
	MOVQ ds+32(FP), R12
	DSTREGS

t32loop:
	PREFETCHROWS(1024)
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VMOVUPS (SI)(R8*4), Y4
	VMOVUPS (SI)(R10*1), Y5
	VMOVUPS (SI)(R9*2), Y6
	VMOVUPS (SI)(R11*1), Y7
	TRANSPOSE8
	STORECOLS
	ADDQ $32, SI
	DECQ CX
	JNZ  t32loop
	VZEROUPPER
	RET

// func packBT8BF16(src *uint16, ld int, dst *float32, n8, ds int)
TEXT ·packBT8BF16(SB), NOSPLIT, $0-40
	MOVQ src+0(FP), SI
	MOVQ ld+8(FP), R8
	SHLQ $1, R8
	MOVQ dst+16(FP), DI
	MOVQ n8+24(FP), CX
	ROWREGS
	MOVQ ds+32(FP), R12
	DSTREGS

tbf16loop:
	PREFETCHROWS(128)
	VPMOVZXWD (SI), Y0
	VPMOVZXWD (SI)(R8*1), Y1
	VPMOVZXWD (SI)(R8*2), Y2
	VPMOVZXWD (SI)(R9*1), Y3
	VPMOVZXWD (SI)(R8*4), Y4
	VPMOVZXWD (SI)(R10*1), Y5
	VPMOVZXWD (SI)(R9*2), Y6
	VPMOVZXWD (SI)(R11*1), Y7
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VPSLLD    $16, Y2, Y2
	VPSLLD    $16, Y3, Y3
	VPSLLD    $16, Y4, Y4
	VPSLLD    $16, Y5, Y5
	VPSLLD    $16, Y6, Y6
	VPSLLD    $16, Y7, Y7
	TRANSPOSE8
	STORECOLS
	ADDQ $16, SI
	DECQ CX
	JNZ  tbf16loop
	VZEROUPPER
	RET

// func packBT8F16(src *uint16, ld int, dst *float32, n8, ds int)
TEXT ·packBT8F16(SB), NOSPLIT, $0-40
	MOVQ src+0(FP), SI
	MOVQ ld+8(FP), R8
	SHLQ $1, R8
	MOVQ dst+16(FP), DI
	MOVQ n8+24(FP), CX
	ROWREGS
	MOVQ ds+32(FP), R12
	DSTREGS

tf16loop:
	PREFETCHROWS(128)
	VCVTPH2PS (SI), Y0
	VCVTPH2PS (SI)(R8*1), Y1
	VCVTPH2PS (SI)(R8*2), Y2
	VCVTPH2PS (SI)(R9*1), Y3
	VCVTPH2PS (SI)(R8*4), Y4
	VCVTPH2PS (SI)(R10*1), Y5
	VCVTPH2PS (SI)(R9*2), Y6
	VCVTPH2PS (SI)(R11*1), Y7
	TRANSPOSE8
	STORECOLS
	ADDQ $16, SI
	DECQ CX
	JNZ  tf16loop
	VZEROUPPER
	RET

// func packBN16BF16(src *uint16, ld int, dst *float32, kc, ds int) widens kc
// rows of 16 (row stride ld) into dst with a ds-float stride.
TEXT ·packBN16BF16(SB), NOSPLIT, $0-40
	MOVQ src+0(FP), SI
	MOVQ ld+8(FP), R8
	SHLQ $1, R8
	MOVQ dst+16(FP), DI
	MOVQ kc+24(FP), CX
	MOVQ ds+32(FP), R9
	SHLQ $2, R9

nbf16loop:
	VPMOVZXWD (SI), Y0
	VPMOVZXWD 16(SI), Y1
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y1, 32(DI)
	ADDQ      R8, SI
	ADDQ      R9, DI
	DECQ      CX
	JNZ       nbf16loop
	VZEROUPPER
	RET

// func packBN16F16(src *uint16, ld int, dst *float32, kc, ds int)
TEXT ·packBN16F16(SB), NOSPLIT, $0-40
	MOVQ src+0(FP), SI
	MOVQ ld+8(FP), R8
	SHLQ $1, R8
	MOVQ dst+16(FP), DI
	MOVQ kc+24(FP), CX
	MOVQ ds+32(FP), R9
	SHLQ $2, R9

nf16loop:
	VCVTPH2PS (SI), Y0
	VCVTPH2PS 16(SI), Y1
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y1, 32(DI)
	ADDQ      R8, SI
	ADDQ      R9, DI
	DECQ      CX
	JNZ       nf16loop
	VZEROUPPER
	RET

// func dotAVX2(x, y *float32, n int) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ   x+0(FP), SI
	MOVQ   y+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ   CX, $32
	JLT    dot8

dot32:
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	CMPQ        CX, $32
	JGE         dot32

dot8:
	CMPQ CX, $8
	JLT  dotsum
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         dot8

dotsum:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0
	TESTQ        CX, CX
	JZ           dotdone

dot1:
	VMOVSS      (SI), X4
	VFMADD231SS (DI), X4, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JNZ         dot1

dotdone:
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func axpyAVX2(alpha float32, x, y *float32, n int)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Y0
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX
	CMPQ         CX, $32
	JLT          axpy8

axpy32:
	VMOVUPS     (DI), Y1
	VMOVUPS     32(DI), Y2
	VMOVUPS     64(DI), Y3
	VMOVUPS     96(DI), Y4
	VFMADD231PS (SI), Y0, Y1
	VFMADD231PS 32(SI), Y0, Y2
	VFMADD231PS 64(SI), Y0, Y3
	VFMADD231PS 96(SI), Y0, Y4
	VMOVUPS     Y1, (DI)
	VMOVUPS     Y2, 32(DI)
	VMOVUPS     Y3, 64(DI)
	VMOVUPS     Y4, 96(DI)
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	CMPQ        CX, $32
	JGE         axpy32

axpy8:
	CMPQ CX, $8
	JLT  axpy1
	VMOVUPS     (DI), Y1
	VFMADD231PS (SI), Y0, Y1
	VMOVUPS     Y1, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         axpy8

axpy1:
	TESTQ CX, CX
	JZ    axpydone
	VMOVSS      (DI), X1
	VFMADD231SS (SI), X0, X1
	VMOVSS      X1, (DI)
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         axpy1

axpydone:
	VZEROUPPER
	RET

// func packBNF32(src *float32, ld int, dst *float32, kc, ds, n16 int) copies
// kc rows of 16·n16 floats, n16 1 or 2 (row stride ld), into dst with a
// ds-float stride, prefetching the row 8 ahead: the rows of a row-major op(B)
// are a page apart when ld >= 1024, each a new stream to the hardware
// prefetcher.
TEXT ·packBNF32(SB), NOSPLIT, $0-48
	MOVQ src+0(FP), SI
	MOVQ ld+8(FP), R8
	SHLQ $2, R8
	MOVQ dst+16(FP), DI
	MOVQ kc+24(FP), CX
	MOVQ ds+32(FP), R9
	SHLQ $2, R9
	MOVQ R8, R10
	SHLQ $3, R10
	CMPQ n16+40(FP), $2
	JEQ  nf32loop2

nf32loop1:
	PREFETCHT0 (SI)(R10*1)
	PREFETCHT0 63(SI)(R10*1)
	VMOVUPS    (SI), Y0
	VMOVUPS    32(SI), Y1
	VMOVUPS    Y0, (DI)
	VMOVUPS    Y1, 32(DI)
	ADDQ       R8, SI
	ADDQ       R9, DI
	DECQ       CX
	JNZ        nf32loop1
	VZEROUPPER
	RET

nf32loop2:
	PREFETCHT0 (SI)(R10*1)
	PREFETCHT0 64(SI)(R10*1)
	PREFETCHT0 127(SI)(R10*1)
	VMOVUPS    (SI), Y0
	VMOVUPS    32(SI), Y1
	VMOVUPS    64(SI), Y2
	VMOVUPS    96(SI), Y3
	VMOVUPS    Y0, (DI)
	VMOVUPS    Y1, 32(DI)
	VMOVUPS    Y2, 64(DI)
	VMOVUPS    Y3, 96(DI)
	ADDQ       R8, SI
	ADDQ       R9, DI
	DECQ       CX
	JNZ        nf32loop2
	VZEROUPPER
	RET

// func packAT12F32(src *float32, ld int, dst *float32, kc int) copies kc rows
// of 12 floats (row stride ld) into dst contiguously: the A micro-panel of a
// transposed op(A) for a 12-row tile. It prefetches the row 8 ahead.
TEXT ·packAT12F32(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ ld+8(FP), R8
	SHLQ $2, R8
	MOVQ dst+16(FP), DI
	MOVQ kc+24(FP), CX
	MOVQ R8, R10
	SHLQ $3, R10

at12loop:
	PREFETCHT0 (SI)(R10*1)
	PREFETCHT0 47(SI)(R10*1)
	VMOVUPS    (SI), Y0
	VMOVUPS    32(SI), X1
	VMOVUPS    Y0, (DI)
	VMOVUPS    X1, 32(DI)
	ADDQ       R8, SI
	ADDQ       $48, DI
	DECQ       CX
	JNZ        at12loop
	VZEROUPPER
	RET
