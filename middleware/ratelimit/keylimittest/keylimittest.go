// Package keylimittest is the behavioural test suite every
// ratelimit.KeyLimiter must pass, so that a key's limit means the same in
// memory and in Redis.
package keylimittest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/middleware/ratelimit"
)

// Factory returns two handles on one limiter's state (two replicas on one
// Redis; the same value twice for an in-memory limiter), timed by clock.
// Keys used by one call of the suite's tests are unique to it.
type Factory func(t *testing.T, clock clockwork.Clock) (a, b ratelimit.KeyLimiter)

// Run runs the suite against the limiters newLimiter makes.
func Run(t *testing.T, newLimiter Factory) {
	start := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	setup := func(t *testing.T) (*clockwork.FakeClock, ratelimit.KeyLimiter, ratelimit.KeyLimiter) {
		clock := clockwork.NewFakeClockAt(start)
		a, b := newLimiter(t, clock)
		return clock, a, b
	}
	ctx := context.Background()

	t.Run("ConcurrentBurstAdmitsExactlyRPM", func(t *testing.T) {
		_, a, b := setup(t)
		const rpm, callers = 10, 50
		var admitted atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for i := range callers {
			lim := a
			if i%2 == 1 {
				lim = b
			}
			wg.Go(func() {
				ok, retry, err := lim.Allow(ctx, "burst", rpm)
				switch {
				case err != nil:
					errs <- err
				case ok:
					admitted.Add(1)
				case retry <= 0 || retry > ratelimit.Window/rpm:
					errs <- fmt.Errorf("refused with retryAfter %v, want in (0, %v]", retry, ratelimit.Window/rpm)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := admitted.Load(); n != rpm {
			t.Errorf("admitted %d of %d concurrent calls, want exactly %d", n, callers, rpm)
		}
	})

	t.Run("RetryAfterIsHonest", func(t *testing.T) {
		clock, a, b := setup(t)
		const rpm = 10
		for i := range rpm {
			if ok, _, err := a.Allow(ctx, "k", rpm); err != nil || !ok {
				t.Fatalf("call %d of the burst refused (err %v)", i, err)
			}
		}
		ok, retry, err := b.Allow(ctx, "k", rpm)
		if err != nil || ok {
			t.Fatalf("call past the burst: ok=%v err=%v, want refused", ok, err)
		}
		if want := ratelimit.Window / rpm; retry != want {
			t.Errorf("retryAfter = %v, want %v (one emission interval)", retry, want)
		}
		clock.Advance(retry - time.Millisecond)
		if ok, _, _ := b.Allow(ctx, "k", rpm); ok {
			t.Errorf("admitted %v before retryAfter had passed", time.Millisecond)
		}
		clock.Advance(time.Millisecond)
		if ok, _, _ := a.Allow(ctx, "k", rpm); !ok {
			t.Errorf("refused once retryAfter had passed")
		}
		if ok, _, _ := b.Allow(ctx, "k", rpm); ok {
			t.Errorf("admitted two calls for one interval")
		}
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		_, a, b := setup(t)
		if ok, _, _ := a.Allow(ctx, "one", 1); !ok {
			t.Fatal("first call of key one refused")
		}
		if ok, _, _ := b.Allow(ctx, "one", 1); ok {
			t.Error("second call of key one admitted at rpm 1")
		}
		if ok, _, _ := b.Allow(ctx, "two", 1); !ok {
			t.Error("key two refused because of key one")
		}
	})

	t.Run("NoLimit", func(t *testing.T) {
		_, a, _ := setup(t)
		for range 100 {
			if ok, _, err := a.Allow(ctx, "free", 0); !ok || err != nil {
				t.Fatalf("rpm 0 refused (err %v)", err)
			}
		}
	})

	t.Run("IdleKeyBurstsAgain", func(t *testing.T) {
		clock, a, _ := setup(t)
		const rpm = 5
		for range rpm {
			a.Allow(ctx, "idle", rpm)
		}
		clock.Advance(ratelimit.Window)
		for i := range rpm {
			if ok, _, _ := a.Allow(ctx, "idle", rpm); !ok {
				t.Fatalf("call %d refused after a minute idle", i)
			}
		}
	})

	t.Run("SustainedRate", func(t *testing.T) {
		// One call a second for ten minutes at 6 rpm: the first minute's
		// burst of 6, then one every 10 s.
		clock, a, b := setup(t)
		const rpm, seconds = 6, 600
		admitted := 0
		var inMinute []time.Time
		for i := range seconds {
			lim := a
			if i%3 == 0 {
				lim = b
			}
			if ok, _, err := lim.Allow(ctx, "steady", rpm); err != nil {
				t.Fatal(err)
			} else if ok {
				admitted++
				now := clock.Now()
				inMinute = append(inMinute, now)
				for len(inMinute) > 0 && !inMinute[0].After(now.Add(-ratelimit.Window)) {
					inMinute = inMinute[1:]
				}
				if len(inMinute) > 2*rpm {
					t.Fatalf("%d calls admitted within one minute at %d rpm", len(inMinute), rpm)
				}
			}
			clock.Advance(time.Second)
		}
		if lo, hi := seconds/10, rpm+seconds/10; admitted < lo || admitted > hi {
			t.Errorf("admitted %d calls in %d s at %d rpm, want between %d and %d", admitted, seconds, rpm, lo, hi)
		}
	})

	t.Run("ChangedLimitKeepsTimeOwed", func(t *testing.T) {
		clock, a, b := setup(t)
		for range 3 {
			a.Allow(ctx, "shrink", 100) // owes 3 × 600 ms
		}
		ok, retry, _ := b.Allow(ctx, "shrink", 1)
		if ok || retry != 1800*time.Millisecond {
			t.Fatalf("at a lowered rpm 1: ok=%v retryAfter=%v, want refused for the 1.8s owed", ok, retry)
		}
		clock.Advance(retry)
		if ok, _, _ := b.Allow(ctx, "shrink", 1); !ok {
			t.Fatal("refused once the time owed had passed")
		}
		if ok, retry, _ := a.Allow(ctx, "shrink", 1); ok || retry != ratelimit.Window {
			t.Errorf("second call at rpm 1: ok=%v retryAfter=%v, want refused for a minute", ok, retry)
		}
	})
}
