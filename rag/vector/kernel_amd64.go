package vector

import "golang.org/x/sys/cpu"

// The scan is memory-bound on int8 codes only if the arithmetic keeps up;
// Go's compiler does not vectorise dotsGeneric, so amd64 machines with
// AVX-512 VNNI get a hand-written kernel (there is no maintained pure-Go
// library for u8×s8 dot products, and cgo is not allowed).
var haveVNNI = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI

//go:noescape
func dotsVNNI(q *byte, codes *int8, stride, n int, out *int32)

func dots(q []byte, codes []int8, stride, n int, out []int32) {
	if n == 0 {
		return
	}
	if haveVNNI && stride%64 == 0 {
		_ = q[stride-1]
		_ = codes[n*stride-1]
		_ = out[n-1]
		dotsVNNI(&q[0], &codes[0], stride, n, &out[0])
		return
	}
	dotsGeneric(q, codes, stride, n, out)
}
