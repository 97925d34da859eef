package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// KeyLimiter admits or refuses requests per key (an API key, a user) at up
// to rpm requests per minute. The server asks it once per request, before
// any work; a refusal carries how long the caller should wait before the
// next request can be admitted.
//
// Implementations: MemoryKeyLimiter for one process, and the Redis one in
// store/redis for replicas that must share each key's limit.
type KeyLimiter interface {
	// Allow admits one request for key under a limit of rpm per minute
	// (rpm <= 0: no limit). When it refuses, retryAfter is the time until
	// a request would be admitted. err is for a limiter that could not
	// decide (a Redis that is down); callers choose whether to fail open.
	Allow(ctx context.Context, key string, rpm int) (ok bool, retryAfter time.Duration, err error)
}

// GCRA is the rule every KeyLimiter follows, so that a key's limit means
// the same in memory and in Redis. It is the generic cell rate algorithm:
// each key has a theoretical arrival time (TAT); a request at now is
// admitted when max(TAT, now) + interval - now <= Window, and then moves
// TAT there. A key that has been idle may burst up to rpm requests at
// once; after that it is admitted once per interval (Window / rpm). Over
// long spans that is rpm a minute; a single minute that starts with the
// burst can admit up to twice rpm, which is the price of letting an idle
// key burst.
// GCRA needs one number per key and no log, which makes it cheap in
// memory and a single small Lua script in Redis. A key's limit may change
// between calls (an operator edits it); the time a key already owes is
// kept, so a new limit is fully in force within a minute.
//
// gcra returns the new TAT and whether the request is admitted; when it
// is not, retryAfter is how long until it would be.
func gcra(tat, now time.Time, rpm int) (newTAT time.Time, ok bool, retryAfter time.Duration) {
	interval := max(Window/time.Duration(rpm), time.Microsecond)
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	if allowAt := next.Add(-Window); allowAt.After(now) {
		return tat, false, allowAt.Sub(now)
	}
	return next, true, 0
}

// MemoryKeyLimiter is the in-process KeyLimiter. It keeps one time per key
// that was admitted within the last minute and forgets the others, so its
// memory follows the number of recently active keys, not of keys ever
// seen. It is safe for concurrent use.
type MemoryKeyLimiter struct {
	clock clockwork.Clock

	mu sync.Mutex
	// tat holds each key's theoretical arrival time; a key whose TAT has
	// passed is as good as absent.
	tat map[string]time.Time
	// Idle keys are swept when the map reaches sweepAt (twice the live
	// set after the last sweep) or a minute after the last sweep, so
	// sweeping costs O(1) per call amortised, the map holds no more than
	// about the keys active in the last two minutes, and there is no
	// background goroutine to own and stop.
	sweepAt   int
	lastSweep time.Time
}

const minSweep = 1024

// NewMemoryKeyLimiter returns an in-memory KeyLimiter timed by clock (the
// real clock when nil).
func NewMemoryKeyLimiter(clock clockwork.Clock) *MemoryKeyLimiter {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &MemoryKeyLimiter{clock: clock, tat: map[string]time.Time{}, sweepAt: minSweep, lastSweep: clock.Now()}
}

// Allow implements KeyLimiter; it never returns an error.
func (l *MemoryKeyLimiter) Allow(_ context.Context, key string, rpm int) (bool, time.Duration, error) {
	if rpm <= 0 {
		return true, 0, nil
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok, retry := gcra(l.tat[key], now, rpm)
	if ok {
		l.tat[key] = tat
		if len(l.tat) >= l.sweepAt || now.Sub(l.lastSweep) >= Window {
			l.sweep(now)
		}
	}
	return ok, retry, nil
}

// sweep forgets the keys whose TAT has passed. The caller holds l.mu.
func (l *MemoryKeyLimiter) sweep(now time.Time) {
	for k, t := range l.tat {
		if !t.After(now) {
			delete(l.tat, k)
		}
	}
	l.sweepAt = max(minSweep, 2*len(l.tat))
	l.lastSweep = now
}

// Len returns how many keys the limiter currently remembers.
func (l *MemoryKeyLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tat)
}
