package ratelimit_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
	"github.com/keelai/keel/middleware/ratelimit"
)

// stamped records the fake-clock time of every request it gets.
type stamped struct {
	clock clockwork.Clock
	usage llm.Usage
	mu    sync.Mutex
	at    []time.Time
}

func (s *stamped) model() llm.Model {
	return llm.Funcs{
		NameFunc: func() string { return "fake/model" },
		GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
			s.mu.Lock()
			s.at = append(s.at, s.clock.Now())
			s.mu.Unlock()
			return &llm.Response{Usage: s.usage}, nil
		},
	}
}

// drive runs calls concurrently and moves the fake clock a second at a time
// whenever every unfinished call is blocked on it, until all have returned.
func drive(t *testing.T, clock *clockwork.FakeClock, calls int, call func()) {
	t.Helper()
	done := make(chan struct{}, calls)
	for range calls {
		go func() { call(); done <- struct{}{} }()
	}
	finished := 0
	for finished < calls {
		ctx, cancel := context.WithCancel(t.Context())
		blocked := make(chan error, 1)
		go func(n int) { blocked <- clock.BlockUntilContext(ctx, n) }(calls - finished)
		select {
		case <-done:
			finished++
			cancel()
			<-blocked
		case err := <-blocked:
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Second)
		}
	}
}

// TestConcurrentCallersNeverExceedRPM: 50 callers at once against 10 RPM;
// no sliding minute ever holds more than 10 requests.
func TestConcurrentCallersNeverExceedRPM(t *testing.T) {
	clock := clockwork.NewFakeClock()
	s := &stamped{clock: clock}
	m := ratelimit.New(ratelimit.Limits{RPM: 10}, ratelimit.Options{Clock: clock}).Middleware()(s.model())
	drive(t, clock, 50, func() {
		if _, err := m.Generate(context.Background(), &llm.Request{}); err != nil {
			t.Error(err)
		}
	})
	if len(s.at) != 50 {
		t.Fatalf("%d requests, want 50", len(s.at))
	}
	slices.SortFunc(s.at, func(a, b time.Time) int { return a.Compare(b) })
	for i := 10; i < len(s.at); i++ {
		if gap := s.at[i].Sub(s.at[i-10]); gap < time.Minute {
			t.Fatalf("requests %d and %d are %v apart: 11 requests within a minute", i-10, i, gap)
		}
	}
	// and the limiter did not dawdle: 50 requests at 10 a minute take 4 minutes.
	if span := s.at[49].Sub(s.at[0]); span != 4*time.Minute {
		t.Errorf("50 requests took %v of clock, want 4m", span)
	}
}

func TestTokenLimitsReconciledWithUsage(t *testing.T) {
	clock := clockwork.NewFakeClock()
	s := &stamped{clock: clock, usage: llm.Usage{InputTokens: 100, OutputTokens: 10}}
	est := func(*llm.Request) (int, int) { return 600, 10 } // pessimistic
	lim := ratelimit.New(ratelimit.Limits{InputTPM: 1000}, ratelimit.Options{Clock: clock, Estimate: est})
	m := lim.Middleware()(s.model())
	// Estimated alone, only one 600-token call fits 1000 a minute; once the
	// calls report their real 100 tokens, further calls fit in the same minute.
	for range 4 {
		if _, err := m.Generate(context.Background(), &llm.Request{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.at[3].Sub(s.at[0]); got != 0 {
		t.Errorf("reconciled calls waited %v", got)
	}
}

func TestWaitBeyondDeadlineFailsAtOnce(t *testing.T) {
	lim := ratelimit.New(ratelimit.Limits{RPM: 1})
	if _, _, err := lim.Wait(context.Background(), 0, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, _, err := lim.Wait(ctx, 0, 0)
	e, ok := err.(*llm.Error)
	if !ok || e.Kind != llm.KindRateLimited || e.RetryAfter <= time.Second || e.RetryAfter > time.Minute {
		t.Errorf("err = %#v, want rate_limited with the wait as RetryAfter", err)
	}
}

func TestWaitIsRecordedAndCancellable(t *testing.T) {
	clock := clockwork.NewFakeClock()
	s := &stamped{clock: clock}
	m := ratelimit.New(ratelimit.Limits{RPM: 1}, ratelimit.Options{Clock: clock}).Middleware()(s.model())
	m.Generate(context.Background(), &llm.Request{})

	ctx, info := callinfo.Ensure(context.Background())
	done := make(chan error, 1)
	go func() { _, err := m.Generate(ctx, &llm.Request{}); done <- err }()
	clock.BlockUntilContext(t.Context(), 1)
	clock.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := info.Record().RateLimitWait; got != time.Minute {
		t.Errorf("recorded wait %v, want 1m", got)
	}

	cctx, cancel := context.WithCancel(context.Background())
	go func() { _, err := m.Generate(cctx, &llm.Request{}); done <- err }()
	clock.BlockUntilContext(t.Context(), 1)
	cancel()
	if err := <-done; llm.KindOf(err) != llm.KindCanceled {
		t.Errorf("err = %v, want canceled", err)
	}
}

func TestOversizedCallIsAdmittedAlone(t *testing.T) {
	lim := ratelimit.New(ratelimit.Limits{InputTPM: 100})
	if _, _, err := lim.Wait(context.Background(), 5000, 0); err != nil {
		t.Errorf("a call larger than the limit must still go through an empty window: %v", err)
	}
}

func TestPerModelSharesByName(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Now()) // deadlines are read against the limiter's clock
	mw := ratelimit.PerModel(func(name string) ratelimit.Limits {
		if name == "fake/model" {
			return ratelimit.Limits{RPM: 1}
		}
		return ratelimit.Limits{}
	}, ratelimit.Options{Clock: clock})
	s := &stamped{clock: clock}
	a, b := mw(s.model()), mw(s.model())
	a.Generate(context.Background(), &llm.Request{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := b.Generate(ctx, &llm.Request{}); llm.KindOf(err) != llm.KindRateLimited {
		t.Errorf("second wrapper of the same model: err = %v, want its shared limit", err)
	}
}
