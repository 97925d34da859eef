#include "textflag.h"

// func dotsVNNI(q *byte, codes *int8, stride, n int, out *int32)
//
// out[r] = Σ_j q[j]·codes[r·stride+j], q unsigned, codes signed, stride a
// multiple of 64. Four rows share each load of the query so that the loop
// is bound by reading the codes, not by the query.
TEXT ·dotsVNNI(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), DI
	MOVQ codes+8(FP), SI
	MOVQ stride+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ out+32(FP), R8

rows4:
	CMPQ CX, $4
	JL   rows1
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	LEAQ (SI)(DX*1), R9
	LEAQ (R9)(DX*1), R10
	LEAQ (R10)(DX*1), R11
	XORQ AX, AX

loop4:
	VMOVDQU64 (DI)(AX*1), Z0
	VPDPBUSD  (SI)(AX*1), Z0, Z4
	VPDPBUSD  (R9)(AX*1), Z0, Z5
	VPDPBUSD  (R10)(AX*1), Z0, Z6
	VPDPBUSD  (R11)(AX*1), Z0, Z7
	ADDQ      $64, AX
	CMPQ      AX, DX
	JL        loop4

	// Reduce the four accumulators to four int32s at once: fold 512 to
	// 256 to 128 bits, then transpose-add.
	VEXTRACTI64X4 $1, Z4, Y8
	VPADDD        Y8, Y4, Y4
	VEXTRACTI64X4 $1, Z5, Y9
	VPADDD        Y9, Y5, Y5
	VEXTRACTI64X4 $1, Z6, Y10
	VPADDD        Y10, Y6, Y6
	VEXTRACTI64X4 $1, Z7, Y11
	VPADDD        Y11, Y7, Y7
	VEXTRACTI128  $1, Y4, X8
	VPADDD        X8, X4, X4
	VEXTRACTI128  $1, Y5, X9
	VPADDD        X9, X5, X5
	VEXTRACTI128  $1, Y6, X10
	VPADDD        X10, X6, X6
	VEXTRACTI128  $1, Y7, X11
	VPADDD        X11, X7, X7
	VPHADDD       X5, X4, X4
	VPHADDD       X7, X6, X6
	VPHADDD       X6, X4, X4
	VMOVDQU       X4, (R8)

	LEAQ (R11)(DX*1), SI
	ADDQ $16, R8
	SUBQ $4, CX
	JMP  rows4

rows1:
	TESTQ CX, CX
	JZ    done
	VPXORD Z4, Z4, Z4
	XORQ   AX, AX

loop1:
	VMOVDQU64 (DI)(AX*1), Z0
	VPDPBUSD  (SI)(AX*1), Z0, Z4
	ADDQ      $64, AX
	CMPQ      AX, DX
	JL        loop1

	VEXTRACTI64X4 $1, Z4, Y8
	VPADDD        Y8, Y4, Y4
	VEXTRACTI128  $1, Y4, X8
	VPADDD        X8, X4, X4
	VPHADDD       X4, X4, X4
	VPHADDD       X4, X4, X4
	VMOVD         X4, (R8)

	ADDQ DX, SI
	ADDQ $4, R8
	DECQ CX
	JMP  rows1

done:
	VZEROUPPER
	RET

// func dotsAVX2(q *byte, codes *int8, stride, n int, out *int32)
//
// The same as dotsVNNI for CPUs without AVX-512 VNNI: bytes are widened to
// 16 bits (the query zero-extended, the codes sign-extended) and multiplied
// pairwise into 32-bit sums with VPMADDWD, 16 dimensions at a time; stride
// is a multiple of 16.
TEXT ·dotsAVX2(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), DI
	MOVQ codes+8(FP), SI
	MOVQ stride+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ out+32(FP), R8

a2rows4:
	CMPQ CX, $4
	JL   a2rows1
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	LEAQ  (SI)(DX*1), R9
	LEAQ  (R9)(DX*1), R10
	LEAQ  (R10)(DX*1), R11
	XORQ  AX, AX

a2loop4:
	VPMOVZXBW (DI)(AX*1), Y0
	VPMOVSXBW (SI)(AX*1), Y1
	VPMADDWD  Y1, Y0, Y1
	VPADDD    Y1, Y4, Y4
	VPMOVSXBW (R9)(AX*1), Y2
	VPMADDWD  Y2, Y0, Y2
	VPADDD    Y2, Y5, Y5
	VPMOVSXBW (R10)(AX*1), Y3
	VPMADDWD  Y3, Y0, Y3
	VPADDD    Y3, Y6, Y6
	VPMOVSXBW (R11)(AX*1), Y1
	VPMADDWD  Y1, Y0, Y1
	VPADDD    Y1, Y7, Y7
	ADDQ      $16, AX
	CMPQ      AX, DX
	JL        a2loop4

	VEXTRACTI128 $1, Y4, X8
	VPADDD       X8, X4, X4
	VEXTRACTI128 $1, Y5, X9
	VPADDD       X9, X5, X5
	VEXTRACTI128 $1, Y6, X10
	VPADDD       X10, X6, X6
	VEXTRACTI128 $1, Y7, X11
	VPADDD       X11, X7, X7
	VPHADDD      X5, X4, X4
	VPHADDD      X7, X6, X6
	VPHADDD      X6, X4, X4
	VMOVDQU      X4, (R8)

	LEAQ (R11)(DX*1), SI
	ADDQ $16, R8
	SUBQ $4, CX
	JMP  a2rows4

a2rows1:
	TESTQ CX, CX
	JZ    a2done
	VPXOR Y4, Y4, Y4
	XORQ  AX, AX

a2loop1:
	VPMOVZXBW (DI)(AX*1), Y0
	VPMOVSXBW (SI)(AX*1), Y1
	VPMADDWD  Y1, Y0, Y1
	VPADDD    Y1, Y4, Y4
	ADDQ      $16, AX
	CMPQ      AX, DX
	JL        a2loop1

	VEXTRACTI128 $1, Y4, X8
	VPADDD       X8, X4, X4
	VPHADDD      X4, X4, X4
	VPHADDD      X4, X4, X4
	VMOVD        X4, (R8)

	ADDQ DX, SI
	ADDQ $4, R8
	DECQ CX
	JMP  a2rows1

a2done:
	VZEROUPPER
	RET
