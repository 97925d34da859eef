package retry_test

import (
	"context"
	"errors"
	"iter"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/middleware/callinfo"
	"github.com/keelai/keel/middleware/retry"
)

func req() *llm.Request {
	return &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}
}

// noWait makes backoffs zero so that tests of which errors are retried need
// no clock.
func noWait(time.Duration) time.Duration { return 0 }

func TestRetriesByKind(t *testing.T) {
	tests := []struct {
		kind     llm.ErrorKind
		requests int
	}{
		{llm.KindRateLimited, 2},
		{llm.KindOverloaded, 2},
		{llm.KindServer, 2},
		{llm.KindTimeout, 2},
		{llm.KindNetwork, 2},
		{llm.KindInvalidRequest, 1},
		{llm.KindAuth, 1},
		{llm.KindPermission, 1},
		{llm.KindContextLength, 1},
		{llm.KindContentFilter, 1},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			fake := llmtest.NewModel("", llmtest.Fail(tt.kind), llmtest.Text("ok"))
			m := retry.New(retry.Options{Jitter: noWait})(fake)
			ctx, info := callinfo.Ensure(t.Context())
			_, err := m.Generate(ctx, req())
			if got := len(fake.Requests()); got != tt.requests {
				t.Errorf("requests = %d, want %d", got, tt.requests)
			}
			if tt.requests == 1 && llm.KindOf(err) != tt.kind {
				t.Errorf("err = %v, want kind %s", err, tt.kind)
			}
			if tt.requests == 2 && err != nil {
				t.Errorf("err = %v after a retry, want success", err)
			}
			if got := info.Record().Attempts; got != tt.requests {
				t.Errorf("recorded attempts = %d, want %d", got, tt.requests)
			}
		})
	}
}

func TestShouldRetryHeaderOverridesKind(t *testing.T) {
	no := false
	fake := llmtest.NewModel("", llmtest.Reply{Err: &llm.Error{Kind: llm.KindServer, ShouldRetry: &no}}, llmtest.Text("ok"))
	m := retry.New(retry.Options{Jitter: noWait})(fake)
	if _, err := m.Generate(t.Context(), req()); llm.KindOf(err) != llm.KindServer {
		t.Fatalf("err = %v, want the server error unretried", err)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	fake := llmtest.NewModel("", llmtest.Fail(llm.KindServer), llmtest.Fail(llm.KindServer), llmtest.Fail(llm.KindServer), llmtest.Text("late"))
	m := retry.New(retry.Options{MaxAttempts: 3, Jitter: noWait})(fake)
	if _, err := m.Generate(t.Context(), req()); llm.KindOf(err) != llm.KindServer {
		t.Fatalf("err = %v, want server", err)
	}
	if n := len(fake.Requests()); n != 3 {
		t.Errorf("requests = %d, want 3", n)
	}
}

// TestRetryAfterWaitsThatLong: a 429 with retry-after: 2 is retried after
// exactly two seconds of the (fake) clock, not after the jittered backoff.
func TestRetryAfterWaitsThatLong(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "generate", true: "stream"}[stream], func(t *testing.T) {
			clock := clockwork.NewFakeClock()
			limited := llmtest.Reply{Err: &llm.Error{Kind: llm.KindRateLimited, Status: 429, RetryAfter: 2 * time.Second}}
			fake := llmtest.NewModel("", limited, llmtest.Text("ok"))
			var waits []time.Duration
			m := retry.New(retry.Options{
				Clock:   clock,
				Jitter:  func(c time.Duration) time.Duration { return c },
				OnRetry: func(_ int, _ error, d time.Duration) { waits = append(waits, d) },
			})(fake)
			start := clock.Now()
			done := make(chan error, 1)
			go func() {
				var err error
				if stream {
					_, err = llm.Collect(m.Stream(t.Context(), req()))
				} else {
					_, err = m.Generate(t.Context(), req())
				}
				done <- err
			}()
			if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
				t.Fatal(err)
			}
			if n := len(fake.Requests()); n != 1 {
				t.Fatalf("requests while waiting = %d, want 1", n)
			}
			clock.Advance(2 * time.Second)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]time.Duration{2 * time.Second}, waits); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if got := clock.Since(start); got != 2*time.Second {
				t.Errorf("clock moved %v", got)
			}
		})
	}
}

func TestRetryAfterBeyondMaximumIsNotWaited(t *testing.T) {
	fake := llmtest.NewModel("", llmtest.Reply{Err: &llm.Error{Kind: llm.KindRateLimited, RetryAfter: 10 * time.Minute}}, llmtest.Text("ok"))
	m := retry.New(retry.Options{Clock: clockwork.NewFakeClock()})(fake)
	if _, err := m.Generate(t.Context(), req()); llm.KindOf(err) != llm.KindRateLimited {
		t.Fatalf("err = %v, want rate_limited returned at once", err)
	}
}

func TestWaitBeyondDeadlineIsNotWaited(t *testing.T) {
	clock := clockwork.NewFakeClock()
	fake := llmtest.NewModel("", llmtest.Reply{Err: &llm.Error{Kind: llm.KindRateLimited, RetryAfter: 30 * time.Second}}, llmtest.Text("ok"))
	m := retry.New(retry.Options{Clock: clock})(fake)
	ctx, cancel := context.WithDeadline(t.Context(), clock.Now().Add(5*time.Second))
	defer cancel()
	if _, err := m.Generate(ctx, req()); llm.KindOf(err) != llm.KindRateLimited {
		t.Fatalf("err = %v, want rate_limited returned at once", err)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestCancelDuringWaitStops(t *testing.T) {
	clock := clockwork.NewFakeClock()
	fake := llmtest.NewModel("", llmtest.Fail(llm.KindServer), llmtest.Text("ok"))
	m := retry.New(retry.Options{Clock: clock, Jitter: func(c time.Duration) time.Duration { return c }})(fake)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := m.Generate(ctx, req()); done <- err }()
	if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; llm.KindOf(err) != llm.KindServer {
		t.Errorf("err = %v, want the last failure", err)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestBackoffDoublesUpToCap(t *testing.T) {
	fake := llmtest.NewModel("",
		llmtest.Fail(llm.KindServer), llmtest.Fail(llm.KindServer), llmtest.Fail(llm.KindServer),
		llmtest.Fail(llm.KindServer), llmtest.Fail(llm.KindServer), llmtest.Text("ok"))
	var ceilings []time.Duration
	m := retry.New(retry.Options{
		MaxAttempts: 6, Base: time.Second, Cap: 5 * time.Second,
		Jitter: func(c time.Duration) time.Duration { ceilings = append(ceilings, c); return 0 },
	})(fake)
	if _, err := m.Generate(t.Context(), req()); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	if diff := cmp.Diff(want, ceilings); diff != "" {
		t.Errorf("ceilings (-want +got):\n%s", diff)
	}
}

func TestStreamRetriedBeforeFirstEvent(t *testing.T) {
	fake := llmtest.NewModel("", llmtest.Fail(llm.KindOverloaded), llmtest.Text("hello there"))
	m := retry.New(retry.Options{Jitter: noWait})(fake)
	resp, err := llm.Collect(m.Stream(t.Context(), req()))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != "hello there" {
		t.Errorf("text = %q", resp.Text())
	}
	if n := len(fake.Requests()); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
}

// TestStreamBrokenAfterFirstTokenNotRetried: once a token reached the
// caller, a cut stream is an error for the caller, not a silent retry that
// would repeat the token.
func TestStreamBrokenAfterFirstTokenNotRetried(t *testing.T) {
	broken := llmtest.Reply{
		Events: []llm.Event{{Kind: llm.EventText, Text: "Hel"}},
		Err:    &llm.Error{Kind: llm.KindNetwork, Err: llm.ErrIncomplete},
	}
	fake := llmtest.NewModel("", broken, llmtest.Text("never"))
	m := retry.New(retry.Options{Jitter: noWait})(fake)
	var texts []string
	var gotErr error
	for ev, err := range m.Stream(t.Context(), req()) {
		if err != nil {
			gotErr = err
			break
		}
		texts = append(texts, ev.Text)
	}
	if !errors.Is(gotErr, llm.ErrIncomplete) {
		t.Errorf("err = %v, want ErrIncomplete", gotErr)
	}
	if diff := cmp.Diff([]string{"Hel"}, texts); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestStreamEarlyBreakStopsUpstream(t *testing.T) {
	stopped := make(chan struct{})
	upstream := llm.Funcs{
		NameFunc: func() string { return "fake/model" },
		StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
			return func(yield func(llm.Event, error) bool) {
				defer close(stopped)
				for {
					if !yield(llm.Event{Kind: llm.EventText, Text: "x"}, nil) {
						return
					}
				}
			}
		},
	}
	m := retry.New(retry.Options{})(upstream)
	n := 0
	for range m.Stream(t.Context(), req()) {
		n++
		if n == 3 {
			break
		}
	}
	<-stopped // the upstream loop has returned
}
