package ratelimit_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/middleware/ratelimit"
	"github.com/keelai/keel/middleware/ratelimit/keylimittest"
)

func TestMemoryKeyLimiter(t *testing.T) {
	keylimittest.Run(t, func(t *testing.T, clock clockwork.Clock) (ratelimit.KeyLimiter, ratelimit.KeyLimiter) {
		l := ratelimit.NewMemoryKeyLimiter(clock)
		return l, l
	})
}

func TestMemoryKeyLimiterForgetsIdleKeys(t *testing.T) {
	clock := clockwork.NewFakeClock()
	l := ratelimit.NewMemoryKeyLimiter(clock)
	ctx := context.Background()
	for i := range 10_000 {
		l.Allow(ctx, fmt.Sprint("burst-", i), 60)
	}
	clock.Advance(ratelimit.Window) // every TAT (now + 1 s) has passed
	for i := range 5_000 {
		l.Allow(ctx, fmt.Sprint("later-", i), 60)
	}
	if n := l.Len(); n != 5_000 {
		t.Errorf("remembers %d keys, want idle keys forgotten (5000 live)", n)
	}
}

func ExampleMemoryKeyLimiter() {
	clock := clockwork.NewFakeClock()
	lim := ratelimit.NewMemoryKeyLimiter(clock)
	ctx := context.Background()
	for range 3 {
		ok, _, _ := lim.Allow(ctx, "key-1", 2)
		fmt.Println(ok)
	}
	_, retry, _ := lim.Allow(ctx, "key-1", 2)
	fmt.Println("retry after", retry)
	// Output:
	// true
	// true
	// false
	// retry after 30s
}

func BenchmarkMemoryKeyLimiterAllow(b *testing.B) {
	l := ratelimit.NewMemoryKeyLimiter(nil)
	ctx := context.Background()
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprint("key-", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.Allow(ctx, keys[i%len(keys)], 1_000_000)
		i++
	}
}
