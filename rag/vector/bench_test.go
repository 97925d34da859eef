package vector

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkSearch measures one query's latency (k=10) at the sizes of the
// issue's targets. bench/vector compares it with a peer side by side.
func BenchmarkSearch(b *testing.B) {
	for _, size := range []struct{ n, dim int }{{10_000, 384}, {100_000, 384}, {10_000, 1536}, {100_000, 1536}} {
		b.Run(fmt.Sprintf("n=%d/dim=%d", size.n, size.dim), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			ix := New(size.dim)
			items := make([]Item, size.n)
			for i := range items {
				items[i] = Item{ID: id(i), Vector: randVec(rng, size.dim)}
			}
			must(b, ix.Put(items...))
			queries := make([][]float32, 64)
			for i := range queries {
				queries[i] = randVec(rng, size.dim)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := ix.Search(queries[i%len(queries)], 10, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkKernel measures the int8 scan alone, in bytes of codes per
// second.
func BenchmarkKernel(b *testing.B) {
	const stride, n = 384, 4096
	q := make([]byte, stride)
	codes := make([]int8, stride*n)
	out := make([]int32, n)
	for name, kernel := range kernels() {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(stride * n)
			for b.Loop() {
				kernel(q, codes, stride, n, out)
			}
		})
	}
}
