package fallback

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/llm"
)

// ErrOpen is the cause of the error a model returns while its circuit
// breaker is open. The error itself is an *llm.Error of kind overloaded
// with RetryAfter set to the rest of the cool-down, so that a fallback
// moves on at once.
var ErrOpen = errors.New("circuit breaker open")

// BreakerOptions configures Breakers. The zero value is usable.
//
// The breaker is written here rather than taken from sony/gobreaker because
// its cool-down must run on an injectable clock (tests advance a fake one)
// and it must understand streams, whose outcome is known only at their end.
type BreakerOptions struct {
	// Failures is the number of consecutive failed calls that opens the
	// breaker; 0 means 5.
	Failures int
	// CoolDown is how long the breaker stays open before it lets one probe
	// call through (half-open); 0 means 30s.
	CoolDown time.Duration
	// Counts decides whether an error counts as a failure of the model;
	// nil means a retryable error (rate limits, overload, server, network,
	// timeouts). Other errors, such as invalid requests, prove the provider
	// is answering and count as successes.
	Counts func(error) bool
	// Clock times the cool-down; nil means the real clock.
	Clock clockwork.Clock
}

// Breakers returns a middleware that gives each model it wraps a circuit
// breaker, one per model name: wrapping two Model values with the same name
// shares one breaker.
func Breakers(opts BreakerOptions) llm.Middleware {
	if opts.Failures <= 0 {
		opts.Failures = 5
	}
	if opts.CoolDown <= 0 {
		opts.CoolDown = 30 * time.Second
	}
	if opts.Counts == nil {
		opts.Counts = func(err error) bool {
			return llm.KindOf(err) != llm.KindCanceled && llm.IsRetryable(err)
		}
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	var mu sync.Mutex
	byName := map[string]*breaker{}
	return func(next llm.Model) llm.Model {
		mu.Lock()
		b, ok := byName[next.Name()]
		if !ok {
			b = &breaker{o: opts}
			byName[next.Name()] = b
		}
		mu.Unlock()
		return llm.Funcs{
			Next: next,
			GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
				if err := b.allow(next.Name()); err != nil {
					return nil, err
				}
				resp, err := next.Generate(ctx, req)
				b.done(err)
				return resp, err
			},
			StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
				return func(yield func(llm.Event, error) bool) {
					if err := b.allow(next.Name()); err != nil {
						yield(llm.Event{}, err)
						return
					}
					finished := false
					// A consumer that stops early leaves the outcome unknown:
					// release a half-open probe without judging the model.
					defer func() {
						if !finished {
							b.abandon()
						}
					}()
					for ev, err := range next.Stream(ctx, req) {
						if err != nil {
							finished = true
							b.done(err)
							yield(llm.Event{}, err)
							return
						}
						if ev.Kind == llm.EventDone {
							finished = true
							b.done(nil)
						}
						if !yield(ev, nil) {
							return
						}
					}
					if !finished {
						finished = true
						b.done(&llm.Error{Kind: llm.KindNetwork, Err: llm.ErrIncomplete})
					}
				}
			},
		}
	}
}

type breakerState uint8

const (
	closed breakerState = iota
	open
	halfOpen
)

type breaker struct {
	o        BreakerOptions
	mu       sync.Mutex
	state    breakerState
	failures int
	openedAt time.Time
	probing  bool
}

// allow admits a call or returns the open-breaker error.
func (b *breaker) allow(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.o.Clock.Now()
	if b.state == open {
		if left := b.openedAt.Add(b.o.CoolDown).Sub(now); left > 0 {
			return openError(name, left)
		}
		b.state = halfOpen
	}
	if b.state == halfOpen {
		if b.probing {
			return openError(name, b.o.CoolDown)
		}
		b.probing = true
	}
	return nil
}

func openError(name string, left time.Duration) error {
	provider, _, _ := llm.SplitName(name)
	return &llm.Error{
		Kind:       llm.KindOverloaded,
		Provider:   provider,
		Message:    fmt.Sprintf("circuit breaker open for %s; next probe in %v", name, left.Round(time.Millisecond)),
		RetryAfter: left,
		Err:        ErrOpen,
	}
}

// done records the outcome of an admitted call.
func (b *breaker) done(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if err == nil || !b.o.Counts(err) {
		if llm.KindOf(err) != llm.KindCanceled {
			b.state, b.failures = closed, 0
		}
		return
	}
	b.failures++
	if b.state == halfOpen || b.failures >= b.o.Failures {
		b.state, b.openedAt = open, b.o.Clock.Now()
	}
}

func (b *breaker) abandon() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}
