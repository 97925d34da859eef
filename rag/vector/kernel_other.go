//go:build !amd64

package vector

func dots(q []byte, codes []int8, stride, n int, out []int32) {
	dotsGeneric(q, codes, stride, n, out)
}

func kernels() map[string]func(q []byte, codes []int8, stride, n int, out []int32) {
	return map[string]func(q []byte, codes []int8, stride, n int, out []int32){"generic": dotsGeneric}
}
