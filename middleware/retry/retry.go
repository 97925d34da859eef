// Package retry resends a failed model call with exponential backoff and
// full jitter, honouring the provider's retry-after advice.
//
//	m = retry.New(retry.Options{})(m)
//
// Retryable kinds are rate_limited, overloaded, server, timeout and network
// (llm.IsRetryable, which also honours x-should-retry); invalid_request,
// auth, permission, context_length and content_filter are never retried. A
// stream is retried only while nothing has reached the caller: once an
// event has been yielded, a failure is the caller's to see.
package retry

import (
	"context"
	"errors"
	"iter"
	"math/rand/v2"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
)

// Options configures New. The zero value is usable.
type Options struct {
	// MaxAttempts is the number of requests sent at most, the first
	// included; 0 means 4. 1 disables retrying.
	MaxAttempts int
	// Base is the first backoff ceiling (0 means 500ms); the ceiling doubles
	// after each attempt up to Cap (0 means 30s). The wait is drawn
	// uniformly from [0, ceiling] ("full jitter").
	Base, Cap time.Duration
	// MaxRetryAfter is the longest retry-after the middleware will honour
	// (0 means 60s). A provider asking for more gets the error returned at
	// once, so that a fallback can move on instead of stalling.
	MaxRetryAfter time.Duration
	// Retryable decides whether an error is worth another attempt; nil
	// means llm.IsRetryable. The default stack uses it to leave overloaded
	// errors to the fallback when there is another model to try.
	Retryable func(error) bool
	// OnRetry, when set, is called before each wait with the attempt that
	// failed (1-based), its error and the wait chosen.
	OnRetry func(attempt int, err error, wait time.Duration)
	// Clock measures the waits; nil means the real clock. Tests pass a
	// clockwork.FakeClock.
	Clock clockwork.Clock
	// Jitter draws a wait from [0, ceiling]; nil means uniformly at random.
	Jitter func(ceiling time.Duration) time.Duration
}

func (o Options) withDefaults() Options {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 4
	}
	if o.Base <= 0 {
		o.Base = 500 * time.Millisecond
	}
	if o.Cap <= 0 {
		o.Cap = 30 * time.Second
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 60 * time.Second
	}
	if o.Retryable == nil {
		o.Retryable = llm.IsRetryable
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Jitter == nil {
		o.Jitter = fullJitter
	}
	return o
}

// fullJitter is written here rather than taken from cenkalti/backoff, whose
// randomisation is a ± factor around the interval, not the "full jitter"
// (uniform from zero) that spreads synchronised clients best.
func fullJitter(ceiling time.Duration) time.Duration {
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// New returns the retry middleware.
func New(opts Options) llm.Middleware {
	o := opts.withDefaults()
	return func(next llm.Model) llm.Model {
		r := &retrier{o: o, next: next}
		return llm.Funcs{Next: next, GenerateFunc: r.generate, StreamFunc: r.stream}
	}
}

type retrier struct {
	o    Options
	next llm.Model
}

func (r *retrier) generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	info := callinfo.From(ctx)
	for attempt := 1; ; attempt++ {
		info.AddAttempt()
		resp, err := r.next.Generate(ctx, req)
		if err == nil {
			return resp, nil
		}
		if !r.wait(ctx, attempt, err) {
			return nil, err
		}
	}
}

func (r *retrier) stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		info := callinfo.From(ctx)
		for attempt := 1; ; attempt++ {
			info.AddAttempt()
			started := false
			var failed error
			for ev, err := range r.next.Stream(ctx, req) {
				if err != nil {
					if started {
						yield(llm.Event{}, err)
						return
					}
					failed = err
					break
				}
				started = true
				if !yield(ev, nil) {
					return
				}
			}
			if failed == nil {
				return
			}
			if !r.wait(ctx, attempt, failed) {
				yield(llm.Event{}, failed)
				return
			}
		}
	}
}

// wait decides whether attempt's failure err is retried and, if so, waits
// before the next attempt. It reports false when the caller should return
// err: not retryable, out of attempts, ctx done, or a wait that would
// outlast ctx's deadline or MaxRetryAfter.
func (r *retrier) wait(ctx context.Context, attempt int, err error) bool {
	if attempt >= r.o.MaxAttempts || ctx.Err() != nil || !r.o.Retryable(err) {
		return false
	}
	d := r.backoff(attempt)
	if e, ok := errors.AsType[*llm.Error](err); ok && e.RetryAfter > 0 {
		if e.RetryAfter > r.o.MaxRetryAfter {
			return false
		}
		d = e.RetryAfter
	}
	if deadline, ok := ctx.Deadline(); ok && r.o.Clock.Until(deadline) < d {
		return false
	}
	if r.o.OnRetry != nil {
		r.o.OnRetry(attempt, err, d)
	}
	if d <= 0 {
		return true
	}
	t := r.o.Clock.NewTimer(d)
	select {
	case <-t.Chan():
		return true
	case <-ctx.Done():
		t.Stop()
		return false
	}
}

// backoff returns the jittered wait after the attempt-th failure.
func (r *retrier) backoff(attempt int) time.Duration {
	ceiling := r.o.Base
	for i := 1; i < attempt && ceiling < r.o.Cap; i++ {
		ceiling *= 2
	}
	return r.o.Jitter(min(ceiling, r.o.Cap))
}
