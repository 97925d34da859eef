//go:build !amd64

package vector

const haveVNNI = false

func dots(q []byte, codes []int8, stride, n int, out []int32) {
	dotsGeneric(q, codes, stride, n, out)
}
