package vector

import "golang.org/x/sys/cpu"

// Go's compiler does not vectorise dotsGeneric, and the scan keeps up with
// memory only with SIMD, so amd64 gets two small hand-written kernels:
// AVX-512 VNNI (64 dimensions per instruction) and AVX2 (16). There is no
// maintained pure-Go library for u8×s8 dot products, and cgo is not
// allowed.
var (
	haveVNNI = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI
	haveAVX2 = cpu.X86.HasAVX2
)

//go:noescape
func dotsVNNI(q *byte, codes *int8, stride, n int, out *int32)

//go:noescape
func dotsAVX2(q *byte, codes *int8, stride, n int, out *int32)

// dots computes out[r] = Σ_j q[j]·codes[r·stride+j] for n rows with the
// fastest kernel the CPU has. stride is a multiple of 64.
func dots(q []byte, codes []int8, stride, n int, out []int32) {
	if n == 0 {
		return
	}
	_ = q[stride-1]
	_ = codes[n*stride-1]
	_ = out[n-1]
	switch {
	case haveVNNI:
		dotsVNNI(&q[0], &codes[0], stride, n, &out[0])
	case haveAVX2:
		dotsAVX2(&q[0], &codes[0], stride, n, &out[0])
	default:
		dotsGeneric(q, codes, stride, n, out)
	}
}

// kernels lists the kernels this CPU can run, for tests and benchmarks.
func kernels() map[string]func(q []byte, codes []int8, stride, n int, out []int32) {
	k := map[string]func(q []byte, codes []int8, stride, n int, out []int32){"generic": dotsGeneric}
	if haveVNNI {
		k["vnni"] = func(q []byte, codes []int8, stride, n int, out []int32) {
			dotsVNNI(&q[0], &codes[0], stride, n, &out[0])
		}
	}
	if haveAVX2 {
		k["avx2"] = func(q []byte, codes []int8, stride, n int, out []int32) {
			dotsAVX2(&q[0], &codes[0], stride, n, &out[0])
		}
	}
	return k
}
