package vector

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDotsMatchesGeneric checks each kernel this CPU runs against the portable one
// on row counts that exercise both the four-row and the one-row loops, with
// extreme byte values where overflow would show.
func TestDotsMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ stride, n int }{
		{64, 1}, {64, 3}, {64, 4}, {128, 5}, {384, 9}, {1536, 7}, {1536, 64},
	} {
		q := make([]byte, tc.stride)
		codes := make([]int8, tc.stride*tc.n)
		for i := range q {
			q[i] = byte(rng.IntN(256))
		}
		for i := range codes {
			codes[i] = int8(rng.IntN(255) - 127)
		}
		// Worst case for accumulation: every product at its extreme.
		for i := range tc.stride {
			q[i] = 255
			codes[i] = -127
		}
		want := make([]int32, tc.n)
		dotsGeneric(q, codes, tc.stride, tc.n, want)
		for name, kernel := range kernels() {
			got := make([]int32, tc.n)
			kernel(q, codes, tc.stride, tc.n, got)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("%s, stride %d n %d: (-generic +kernel)\n%s", name, tc.stride, tc.n, d)
			}
		}
	}
}
