package vector

// dotsGeneric is the portable scan kernel: out[r] = Σ_j q[j]·codes[r·stride+j]
// for the n rows of codes, with q read as unsigned bytes and codes as signed
// ones (the operand shapes of the VNNI instruction the amd64 kernel uses, so
// both kernels return the same numbers).
func dotsGeneric(q []byte, codes []int8, stride, n int, out []int32) {
	q = q[:stride]
	for r := range n {
		row := codes[r*stride : r*stride+stride]
		var s0, s1, s2, s3 int32
		j := 0
		for ; j+4 <= stride; j += 4 {
			s0 += int32(q[j]) * int32(row[j])
			s1 += int32(q[j+1]) * int32(row[j+1])
			s2 += int32(q[j+2]) * int32(row[j+2])
			s3 += int32(q[j+3]) * int32(row[j+3])
		}
		for ; j < stride; j++ {
			s0 += int32(q[j]) * int32(row[j])
		}
		out[r] = s0 + s1 + s2 + s3
	}
}

// dotFloat is the exact score used to rescore candidates.
func dotFloat(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}
