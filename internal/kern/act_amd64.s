//go:build !purego

#include "textflag.h"

// Lane constants of swigluAVX2, 32 bytes each.
DATA silu_sign<>+0(SB)/8, $0x8000000080000000
DATA silu_sign<>+8(SB)/8, $0x8000000080000000
DATA silu_sign<>+16(SB)/8, $0x8000000080000000
DATA silu_sign<>+24(SB)/8, $0x8000000080000000
GLOBL silu_sign<>(SB), RODATA|NOPTR, $32

// 88.0 = 0x42b00000: exp(y) for larger y is clamped (x <= -88: silu is then below 1e-36).
DATA silu_hi<>+0(SB)/8, $0x42b0000042b00000
DATA silu_hi<>+8(SB)/8, $0x42b0000042b00000
DATA silu_hi<>+16(SB)/8, $0x42b0000042b00000
DATA silu_hi<>+24(SB)/8, $0x42b0000042b00000
GLOBL silu_hi<>(SB), RODATA|NOPTR, $32

// -87.0 = 0xc2ae0000: below it exp(y) < 2^-125 and 1+exp(y) rounds to 1.
DATA silu_lo<>+0(SB)/8, $0xc2ae0000c2ae0000
DATA silu_lo<>+8(SB)/8, $0xc2ae0000c2ae0000
DATA silu_lo<>+16(SB)/8, $0xc2ae0000c2ae0000
DATA silu_lo<>+24(SB)/8, $0xc2ae0000c2ae0000
GLOBL silu_lo<>(SB), RODATA|NOPTR, $32

// 127, the float32 exponent bias, as int32 lanes.
DATA silu_bias<>+0(SB)/8, $0x0000007f0000007f
DATA silu_bias<>+8(SB)/8, $0x0000007f0000007f
DATA silu_bias<>+16(SB)/8, $0x0000007f0000007f
DATA silu_bias<>+24(SB)/8, $0x0000007f0000007f
GLOBL silu_bias<>(SB), RODATA|NOPTR, $32

// Scalars broadcast into registers: log2(e), ln2 high and low parts, the polynomial
// p0..p5 (Cephes expf), 1.
DATA silu_k<>+0(SB)/4, $0x3fb8aa3b  // log2(e) 1.44269504
DATA silu_k<>+4(SB)/4, $0x3f318000  // ln2 hi 0.693359375
DATA silu_k<>+8(SB)/4, $0xb95e8083  // ln2 lo -2.12194440e-4
DATA silu_k<>+12(SB)/4, $0x39506967 // p0 1.9875691500e-4
DATA silu_k<>+16(SB)/4, $0x3ab743ce // p1 1.3981999507e-3
DATA silu_k<>+20(SB)/4, $0x3c088908 // p2 8.3334519073e-3
DATA silu_k<>+24(SB)/4, $0x3d2aa9c1 // p3 4.1665795894e-2
DATA silu_k<>+28(SB)/4, $0x3e2aaaaa // p4 1.6666665459e-1
DATA silu_k<>+32(SB)/4, $0x3f000000 // p5 5.0000001201e-1
DATA silu_k<>+36(SB)/4, $0x3f800000 // 1
DATA silu_k<>+40(SB)/4, $0xc2b00000 // -88, the smallest numerator (silu(-88) < 1e-36)
GLOBL silu_k<>(SB), RODATA|NOPTR, $44

// ONE_PLUS_EXP_NEG sets Y3 = 1 + exp(-x) for the eight lanes of Y0 (kept), with the
// constants of silu_k in Y6..Y15 as the kernels below load them; clobbers Y1, Y2, Y4. exp in
// float32: y = -x clamped to [-87, 88], n = round(y·log2 e), r = y - n·ln 2 in two FMA steps,
// a degree-6 polynomial (Cephes expf's coefficients), times 2^n.
#define ONE_PLUS_EXP_NEG \
	VXORPS       silu_sign<>(SB), Y0, Y1; \
	VMINPS       silu_hi<>(SB), Y1, Y1; \
	VMAXPS       silu_lo<>(SB), Y1, Y1; \
	VMULPS       Y13, Y1, Y2; \
	VROUNDPS     $0, Y2, Y2; \
	VFNMADD231PS Y14, Y2, Y1; \
	VFNMADD231PS Y15, Y2, Y1; \
	VMULPS       Y1, Y1, Y4; \
	VMOVAPS      Y6, Y3; \
	VFMADD213PS  Y7, Y1, Y3; \
	VFMADD213PS  Y8, Y1, Y3; \
	VFMADD213PS  Y9, Y1, Y3; \
	VFMADD213PS  Y10, Y1, Y3; \
	VFMADD213PS  Y11, Y1, Y3; \
	VFMADD213PS  Y1, Y4, Y3; \
	VADDPS       Y12, Y3, Y3; \
	VCVTPS2DQ    Y2, Y2; \
	VPADDD       silu_bias<>(SB), Y2, Y2; \
	VPSLLD       $23, Y2, Y2; \
	VMULPS       Y2, Y3, Y3; \
	VADDPS       Y12, Y3, Y3

// func swigluAVX2(dst, gate, up *float32, n int)
TEXT ·swigluAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS silu_k<>+0(SB), Y13
	VBROADCASTSS silu_k<>+4(SB), Y14
	VBROADCASTSS silu_k<>+8(SB), Y15
	VBROADCASTSS silu_k<>+12(SB), Y6
	VBROADCASTSS silu_k<>+16(SB), Y7
	VBROADCASTSS silu_k<>+20(SB), Y8
	VBROADCASTSS silu_k<>+24(SB), Y9
	VBROADCASTSS silu_k<>+28(SB), Y10
	VBROADCASTSS silu_k<>+32(SB), Y11
	VBROADCASTSS silu_k<>+36(SB), Y12
	VBROADCASTSS silu_k<>+40(SB), Y5

loop:
	CMPQ CX, $8
	JL   done
	VMOVUPS (SI), Y0 // x
	ONE_PLUS_EXP_NEG
	VMAXPS  Y0, Y5, Y0              // x = max(-88, x), NaN kept (second source)
	VDIVPS  Y3, Y0, Y0              // silu(x)
	VMULPS  (DX), Y0, Y0            // · u
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop

done:
	VZEROUPPER
	RET

// func swigluBackAVX2(dg, du, dh, gate, up *float32, n int)
TEXT ·swigluBackAVX2(SB), NOSPLIT, $0-48
	MOVQ dg+0(FP), DI
	MOVQ du+8(FP), R8
	MOVQ dh+16(FP), R9
	MOVQ gate+24(FP), SI
	MOVQ up+32(FP), DX
	MOVQ n+40(FP), CX
	VBROADCASTSS silu_k<>+0(SB), Y13
	VBROADCASTSS silu_k<>+4(SB), Y14
	VBROADCASTSS silu_k<>+8(SB), Y15
	VBROADCASTSS silu_k<>+12(SB), Y6
	VBROADCASTSS silu_k<>+16(SB), Y7
	VBROADCASTSS silu_k<>+20(SB), Y8
	VBROADCASTSS silu_k<>+24(SB), Y9
	VBROADCASTSS silu_k<>+28(SB), Y10
	VBROADCASTSS silu_k<>+32(SB), Y11
	VBROADCASTSS silu_k<>+36(SB), Y12

bloop:
	CMPQ CX, $8
	JL   bdone
	VMOVUPS (SI), Y0 // x
	ONE_PLUS_EXP_NEG
	VDIVPS  Y3, Y12, Y3             // s = sigmoid(x)
	VMULPS  (R9), Y3, Y4            // t = dh·s
	VMULPS  Y0, Y4, Y1              // du = t·x
	VMOVUPS Y1, (R8)
	VSUBPS  Y3, Y12, Y2             // 1 - s
	VFMADD213PS Y12, Y0, Y2         // 1 + x(1-s)
	VMULPS  (DX), Y4, Y4            // t·u
	VMULPS  Y2, Y4, Y4              // dg = dh·u·s·(1 + x(1-s))
	VMOVUPS Y4, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	ADDQ    $32, R8
	ADDQ    $32, R9
	SUBQ    $8, CX
	JMP     bloop

bdone:
	VZEROUPPER
	RET
