// Package ratelimit keeps a model's calls within client-side limits on
// requests, input tokens and output tokens per minute, so that a busy
// application queues politely instead of collecting 429s.
//
//	lim := ratelimit.New(ratelimit.Limits{RPM: 50, InputTPM: 40_000})
//	m = lim.Middleware()(m)
//
// Tokens are estimated before the call (cost.EstimateTokens, and the
// request's MaxTokens for output) and reconciled with the real usage after
// it. A call waits while the last minute's window is full, within its
// context's deadline: when the wait would outlast the deadline, it fails at
// once with a rate_limited *llm.Error whose RetryAfter says how long.
//
// The per-model limiter is in memory, one per process: replicas of `keel
// serve` should each be given their share of a provider's limits. The
// per-key request limits of the server are a KeyLimiter, which
// store/redis implements so that replicas share them.
package ratelimit

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
)

// Window is the length of the sliding window the limits apply to.
const Window = time.Minute

// Limits are per-minute ceilings; 0 means no limit of that kind.
type Limits struct {
	RPM       int
	InputTPM  int
	OutputTPM int
}

func (l Limits) zero() bool { return l.RPM <= 0 && l.InputTPM <= 0 && l.OutputTPM <= 0 }

// Options configures a Limiter beyond its limits.
type Options struct {
	// Clock times the window; nil means the real clock. A context deadline
	// is compared with this clock.
	Clock clockwork.Clock
	// Estimate returns the input and output tokens a request is expected to
	// use; nil means cost.EstimateTokens for input and MaxTokens (or 1024
	// when unset) for output.
	Estimate func(*llm.Request) (input, output int)
}

// Limiter is a sliding-window log of one model's recent calls. It is safe
// for concurrent use.
//
// It is written here rather than taken from golang.org/x/time/rate: a
// token bucket lets a full burst through at every refill, so it can admit
// nearly twice the per-minute limit within one minute, while providers
// count a sliding minute; and tokens must be corrected after the call.
type Limiter struct {
	limits Limits
	clock  clockwork.Clock
	est    func(*llm.Request) (int, int)

	mu      sync.Mutex
	entries []*entry // oldest first
	inSum   int
	outSum  int
}

type entry struct {
	at      time.Time
	in, out int
}

// New returns a limiter enforcing limits.
func New(limits Limits, opts ...Options) *Limiter {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Estimate == nil {
		o.Estimate = defaultEstimate
	}
	return &Limiter{limits: limits, clock: o.Clock, est: o.Estimate}
}

func defaultEstimate(req *llm.Request) (int, int) {
	out := req.MaxTokens
	if out <= 0 {
		out = 1024
	}
	return cost.EstimateTokens(req), out
}

// Ticket is an admitted call's place in the window; Reconcile it with the
// call's real usage.
type Ticket struct {
	l *Limiter
	e *entry
}

// Reconcile replaces the ticket's estimated tokens with the usage the call
// really had. Input counts every prompt token not read from the prompt
// cache, as providers' input-token limits do.
func (t *Ticket) Reconcile(u llm.Usage) {
	if t == nil || t.e == nil {
		return
	}
	in, out := u.PromptTokens()-u.CacheReadTokens, u.OutputTokens
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	t.l.prune(t.l.clock.Now())
	if t.l.holds(t.e) {
		t.l.inSum += in - t.e.in
		t.l.outSum += out - t.e.out
	}
	t.e.in, t.e.out = in, out
}

// holds reports whether e is still in the window. The caller holds l.mu.
func (l *Limiter) holds(e *entry) bool {
	return len(l.entries) > 0 && !e.at.Before(l.entries[0].at)
}

// Wait blocks until a call with the given token estimates fits the window,
// then admits it. It returns how long it waited. It fails with a
// rate_limited *llm.Error, at once, when the wait would outlast ctx's
// deadline, and with ctx's error when ctx ends while waiting.
func (l *Limiter) Wait(ctx context.Context, in, out int) (*Ticket, time.Duration, error) {
	if l.limits.zero() {
		return nil, 0, nil
	}
	start := l.clock.Now()
	for {
		l.mu.Lock()
		now := l.clock.Now()
		l.prune(now)
		until, ok := l.fits(now, in, out)
		if ok {
			e := &entry{at: now, in: in, out: out}
			l.entries = append(l.entries, e)
			l.inSum += in
			l.outSum += out
			l.mu.Unlock()
			return &Ticket{l: l, e: e}, now.Sub(start), nil
		}
		l.mu.Unlock()
		wait := until.Sub(now)
		if deadline, has := ctx.Deadline(); has && deadline.Before(until) {
			return nil, now.Sub(start), &llm.Error{
				Kind:       llm.KindRateLimited,
				Message:    fmt.Sprintf("client-side rate limit: next slot in %v, after the deadline", wait.Round(time.Millisecond)),
				RetryAfter: wait,
			}
		}
		t := l.clock.NewTimer(wait)
		select {
		case <-t.Chan():
		case <-ctx.Done():
			t.Stop()
			return nil, l.clock.Since(start), &llm.Error{Kind: llm.KindOf(ctx.Err()), Message: "waiting for the client-side rate limit", Err: ctx.Err()}
		}
	}
}

// prune drops entries that have left the window. The caller holds l.mu.
func (l *Limiter) prune(now time.Time) {
	cut := now.Add(-Window)
	i := 0
	for i < len(l.entries) && !l.entries[i].at.After(cut) {
		l.inSum -= l.entries[i].in
		l.outSum -= l.entries[i].out
		l.entries[i] = nil
		i++
	}
	if i > 0 {
		l.entries = l.entries[i:]
	}
}

// fits reports whether a call fits now; if not, it returns the earliest
// time at which enough entries will have left the window. A call larger
// than a whole token limit is admitted into an empty window rather than
// never. The caller holds l.mu.
func (l *Limiter) fits(now time.Time, in, out int) (time.Time, bool) {
	n, inSum, outSum := len(l.entries), l.inSum, l.outSum
	over := func() bool {
		if n == 0 {
			return false
		}
		return (l.limits.RPM > 0 && n+1 > l.limits.RPM) ||
			(l.limits.InputTPM > 0 && inSum+in > l.limits.InputTPM) ||
			(l.limits.OutputTPM > 0 && outSum+out > l.limits.OutputTPM)
	}
	if !over() {
		return now, true
	}
	for _, e := range l.entries {
		n, inSum, outSum = n-1, inSum-e.in, outSum-e.out
		if !over() {
			return e.at.Add(Window), false
		}
	}
	return now, true // unreachable: an empty window always fits
}

// Middleware returns a middleware that admits every call (every attempt,
// when placed inside the retry middleware) through l, records the wait in
// callinfo, and reconciles the tokens with the response's usage.
func (l *Limiter) Middleware() llm.Middleware {
	return func(next llm.Model) llm.Model {
		if l.limits.zero() {
			return next
		}
		return llm.Funcs{
			Next: next,
			GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
				t, err := l.admit(ctx, req)
				if err != nil {
					return nil, err
				}
				resp, err := next.Generate(ctx, req)
				if resp != nil {
					t.Reconcile(resp.Usage)
				}
				return resp, err
			},
			StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
				return func(yield func(llm.Event, error) bool) {
					t, err := l.admit(ctx, req)
					if err != nil {
						yield(llm.Event{}, err)
						return
					}
					for ev, err := range next.Stream(ctx, req) {
						if ev.Kind == llm.EventDone && ev.Response != nil {
							t.Reconcile(ev.Response.Usage)
						}
						if !yield(ev, err) || err != nil {
							return
						}
					}
				}
			},
		}
	}
}

func (l *Limiter) admit(ctx context.Context, req *llm.Request) (*Ticket, error) {
	in, out := l.est(req)
	t, waited, err := l.Wait(ctx, in, out)
	if waited > 0 {
		callinfo.From(ctx).Update(func(r *callinfo.Record) { r.RateLimitWait += waited })
	}
	return t, err
}

// PerModel returns a middleware that gives each model name it wraps its
// own Limiter with limits(name); models with no limits are left bare.
// Wrapping two Model values of the same name shares one limiter, so a model
// that is one alias's primary and another's fallback is limited once.
func PerModel(limits func(model string) Limits, opts Options) llm.Middleware {
	var mu sync.Mutex
	byName := map[string]*Limiter{}
	return func(next llm.Model) llm.Model {
		name := next.Name()
		mu.Lock()
		l, ok := byName[name]
		if !ok {
			l = New(limits(name), opts)
			byName[name] = l
		}
		mu.Unlock()
		return l.Middleware()(next)
	}
}
