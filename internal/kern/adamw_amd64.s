//go:build !purego

#include "textflag.h"

// Offsets of the adamwConsts fields.
#define C_DECAY 0
#define C_SCALE 4
#define C_W1 8
#define C_B2 12
#define C_W2 16
#define C_BC2SQRT 20
#define C_EPS 24
#define C_NEGSTEP 28

// func adamwAVX512(p, grad, m, v *float32, n int, c *adamwConsts, zero bool) float64
//
// Per element, in adamwGo's order, each step rounded to float32:
//	gi = g*scale; mi = m + w1*(gi-m); vi = v*b2 + (w2*gi)*gi
//	denom = sqrt(vi)/bc2sqrt + eps; p = p*decay + (negStep*mi)/denom
TEXT ·adamwAVX512(SB), NOSPLIT, $0-64
	MOVQ    p+0(FP), DI
	MOVQ    grad+8(FP), SI
	MOVQ    m+16(FP), R8
	MOVQ    v+24(FP), R9
	MOVQ    n+32(FP), CX
	MOVQ    c+40(FP), AX
	MOVBLZX zero+48(FP), DX
	VBROADCASTSS C_DECAY(AX), Z16
	VBROADCASTSS C_SCALE(AX), Z17
	VBROADCASTSS C_W1(AX), Z18
	VBROADCASTSS C_B2(AX), Z19
	VBROADCASTSS C_W2(AX), Z20
	VBROADCASTSS C_BC2SQRT(AX), Z21
	VBROADCASTSS C_EPS(AX), Z22
	VBROADCASTSS C_NEGSTEP(AX), Z23
	VPXORQ  Z24, Z24, Z24 // Σ g² (8 float64 lanes)
	VPXORQ  Z26, Z26, Z26 // zeros
	SHLQ    $2, CX        // bytes
	XORQ    BX, BX

a512loop:
	VMOVUPS       (SI)(BX*1), Z0 // g
	VCVTPS2PD     Y0, Z8
	VEXTRACTF64X4 $1, Z0, Y9
	VCVTPS2PD     Y9, Z9
	VFMADD231PD   Z8, Z8, Z24
	VFMADD231PD   Z9, Z9, Z24
	VMULPS        Z17, Z0, Z0     // gi = g*scale
	VMOVUPS       (R8)(BX*1), Z1  // m
	VSUBPS        Z1, Z0, Z2      // gi - m
	VMULPS        Z18, Z2, Z2     // w1*(gi-m)
	VADDPS        Z2, Z1, Z1      // mi = m + w1*(gi-m)
	VMOVUPS       (R9)(BX*1), Z3  // v
	VMULPS        Z19, Z3, Z3     // v*b2
	VMULPS        Z20, Z0, Z4     // w2*gi
	VMULPS        Z0, Z4, Z4      // (w2*gi)*gi
	VADDPS        Z4, Z3, Z3      // vi
	VSQRTPS       Z3, Z5
	VDIVPS        Z21, Z5, Z5     // sqrt(vi)/bc2sqrt
	VADDPS        Z22, Z5, Z5     // denom
	VMULPS        Z23, Z1, Z6     // negStep*mi
	VDIVPS        Z5, Z6, Z6      // (negStep*mi)/denom
	VMOVUPS       (DI)(BX*1), Z7  // p
	VMULPS        Z16, Z7, Z7     // p*decay
	VADDPS        Z6, Z7, Z7
	VMOVUPS       Z7, (DI)(BX*1)
	VMOVUPS       Z1, (R8)(BX*1)
	VMOVUPS       Z3, (R9)(BX*1)
	TESTQ         DX, DX
	JEQ           a512next
	VMOVUPS       Z26, (SI)(BX*1)

a512next:
	ADDQ $64, BX
	CMPQ BX, CX
	JLT  a512loop

	VEXTRACTF64X4 $1, Z24, Y10
	VEXTRACTF64X4 $0, Z24, Y11
	VADDPD        Y10, Y11, Y11
	VEXTRACTF128  $1, Y11, X10
	VADDPD        X10, X11, X11
	VUNPCKHPD     X11, X11, X10
	VADDSD        X10, X11, X11
	VZEROUPPER
	MOVSD         X11, ret+56(FP)
	RET

// func adamwAVX2(p, grad, m, v *float32, n int, c *adamwConsts, zero bool) float64
//
// adamwAVX512 with 8-wide YMM vectors.
TEXT ·adamwAVX2(SB), NOSPLIT, $0-64
	MOVQ    p+0(FP), DI
	MOVQ    grad+8(FP), SI
	MOVQ    m+16(FP), R8
	MOVQ    v+24(FP), R9
	MOVQ    n+32(FP), CX
	MOVQ    c+40(FP), AX
	MOVBLZX zero+48(FP), DX
	VBROADCASTSS C_DECAY(AX), Y8
	VBROADCASTSS C_SCALE(AX), Y9
	VBROADCASTSS C_W1(AX), Y10
	VBROADCASTSS C_B2(AX), Y11
	VBROADCASTSS C_W2(AX), Y12
	VBROADCASTSS C_BC2SQRT(AX), Y13
	VBROADCASTSS C_EPS(AX), Y14
	VBROADCASTSS C_NEGSTEP(AX), Y15
	VXORPD  Y7, Y7, Y7 // Σ g² (4 float64 lanes)
	SHLQ    $2, CX
	XORQ    BX, BX

a2loop:
	VMOVUPS      (SI)(BX*1), Y0 // g
	VCVTPS2PD    X0, Y2
	VMULPD       Y2, Y2, Y2
	VADDPD       Y2, Y7, Y7
	VEXTRACTF128 $1, Y0, X2
	VCVTPS2PD    X2, Y2
	VMULPD       Y2, Y2, Y2
	VADDPD       Y2, Y7, Y7
	VMULPS       Y9, Y0, Y0     // gi
	VMOVUPS      (R8)(BX*1), Y1 // m
	VSUBPS       Y1, Y0, Y2
	VMULPS       Y10, Y2, Y2
	VADDPS       Y2, Y1, Y1     // mi
	VMOVUPS      (R9)(BX*1), Y3 // v
	VMULPS       Y11, Y3, Y3
	VMULPS       Y12, Y0, Y4
	VMULPS       Y0, Y4, Y4
	VADDPS       Y4, Y3, Y3     // vi
	VSQRTPS      Y3, Y5
	VDIVPS       Y13, Y5, Y5
	VADDPS       Y14, Y5, Y5    // denom
	VMULPS       Y15, Y1, Y6
	VDIVPS       Y5, Y6, Y6
	VMOVUPS      (DI)(BX*1), Y2 // p
	VMULPS       Y8, Y2, Y2
	VADDPS       Y6, Y2, Y2
	VMOVUPS      Y2, (DI)(BX*1)
	VMOVUPS      Y1, (R8)(BX*1)
	VMOVUPS      Y3, (R9)(BX*1)
	TESTQ        DX, DX
	JEQ          a2next
	VXORPS       Y4, Y4, Y4
	VMOVUPS      Y4, (SI)(BX*1)

a2next:
	ADDQ $32, BX
	CMPQ BX, CX
	JLT  a2loop

	VEXTRACTF128 $1, Y7, X2
	VADDPD       X2, X7, X7
	VUNPCKHPD    X7, X7, X2
	VADDSD       X2, X7, X7
	VZEROUPPER
	MOVSD        X7, ret+56(FP)
	RET

// func sumSqAVX512(x *float32, n int) float64
TEXT ·sumSqAVX512(SB), NOSPLIT, $0-24
	MOVQ   x+0(FP), SI
	MOVQ   n+8(FP), CX
	SHLQ   $2, CX
	XORQ   BX, BX
	VPXORQ Z4, Z4, Z4
	VPXORQ Z5, Z5, Z5
	VPXORQ Z6, Z6, Z6
	VPXORQ Z7, Z7, Z7

ss512loop:
	VCVTPS2PD   (SI)(BX*1), Z0
	VCVTPS2PD   32(SI)(BX*1), Z1
	VCVTPS2PD   64(SI)(BX*1), Z2
	VCVTPS2PD   96(SI)(BX*1), Z3
	VFMADD231PD Z0, Z0, Z4
	VFMADD231PD Z1, Z1, Z5
	VFMADD231PD Z2, Z2, Z6
	VFMADD231PD Z3, Z3, Z7
	ADDQ        $128, BX
	CMPQ        BX, CX
	JLT         ss512loop

	VADDPD        Z5, Z4, Z4
	VADDPD        Z7, Z6, Z6
	VADDPD        Z6, Z4, Z4
	VEXTRACTF64X4 $1, Z4, Y5
	VADDPD        Y5, Y4, Y4
	VEXTRACTF128  $1, Y4, X5
	VADDPD        X5, X4, X4
	VUNPCKHPD     X4, X4, X5
	VADDSD        X5, X4, X4
	VZEROUPPER
	MOVSD         X4, ret+16(FP)
	RET

// func sumSqAVX2(x *float32, n int) float64
TEXT ·sumSqAVX2(SB), NOSPLIT, $0-24
	MOVQ   x+0(FP), SI
	MOVQ   n+8(FP), CX
	SHLQ   $2, CX
	XORQ   BX, BX
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7

ss2loop:
	VCVTPS2PD   (SI)(BX*1), Y0
	VCVTPS2PD   16(SI)(BX*1), Y1
	VCVTPS2PD   32(SI)(BX*1), Y2
	VCVTPS2PD   48(SI)(BX*1), Y3
	VFMADD231PD Y0, Y0, Y4
	VFMADD231PD Y1, Y1, Y5
	VFMADD231PD Y2, Y2, Y6
	VFMADD231PD Y3, Y3, Y7
	ADDQ        $64, BX
	CMPQ        BX, CX
	JLT         ss2loop

	VADDPD       Y5, Y4, Y4
	VADDPD       Y7, Y6, Y6
	VADDPD       Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VADDPD       X5, X4, X4
	VUNPCKHPD    X4, X4, X5
	VADDSD       X5, X4, X4
	VZEROUPPER
	MOVSD        X4, ret+16(FP)
	RET
