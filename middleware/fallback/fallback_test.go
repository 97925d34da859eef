package fallback_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/middleware/callinfo"
	"github.com/keelai/keel/middleware/fallback"
)

func req() *llm.Request {
	return &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}
}

func TestFallbackByKind(t *testing.T) {
	tests := []struct {
		name          string
		kind          llm.ErrorKind
		opts          fallback.Options
		wantSecondary bool
	}{
		{"overloaded moves on", llm.KindOverloaded, fallback.Options{}, true},
		{"server moves on", llm.KindServer, fallback.Options{}, true},
		{"rate limited moves on", llm.KindRateLimited, fallback.Options{}, true},
		{"invalid request stays", llm.KindInvalidRequest, fallback.Options{}, false},
		{"auth stays", llm.KindAuth, fallback.Options{}, false},
		{"context length stays by default", llm.KindContextLength, fallback.Options{}, false},
		{"context length moves when asked", llm.KindContextLength, fallback.Options{ContextLength: true}, true},
		{"canceled stays", llm.KindCanceled, fallback.Options{}, false},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.name + map[bool]string{false: "/generate", true: "/stream"}[stream]
			t.Run(name, func(t *testing.T) {
				primary := llmtest.NewModel("anthropic/primary", llmtest.Fail(tt.kind))
				secondary := llmtest.NewModel("openai/secondary", llmtest.Text("from secondary"))
				m := fallback.New(tt.opts, secondary)(primary)
				ctx, info := callinfo.Ensure(t.Context())
				var resp *llm.Response
				var err error
				if stream {
					resp, err = llm.Collect(m.Stream(ctx, req()))
				} else {
					resp, err = m.Generate(ctx, req())
				}
				if n := len(primary.Requests()); n != 1 {
					t.Errorf("primary requests = %d, want 1", n)
				}
				if !tt.wantSecondary {
					if llm.KindOf(err) != tt.kind {
						t.Errorf("err = %v, want kind %s", err, tt.kind)
					}
					if n := len(secondary.Requests()); n != 0 {
						t.Errorf("secondary requests = %d, want 0", n)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if resp.Model != "openai/secondary" || resp.Text() != "from secondary" {
					t.Errorf("response from %q: %q", resp.Model, resp.Text())
				}
				rec := info.Record()
				if rec.Model != "openai/secondary" || rec.Fallbacks != 1 {
					t.Errorf("record: model %q, fallbacks %d", rec.Model, rec.Fallbacks)
				}
			})
		}
	}
}

func TestAllFailReturnsLastError(t *testing.T) {
	a := llmtest.NewModel("a/a", llmtest.Fail(llm.KindOverloaded))
	b := llmtest.NewModel("b/b", llmtest.Fail(llm.KindServer))
	m := fallback.New(fallback.Options{}, b)(a)
	if _, err := m.Generate(t.Context(), req()); llm.KindOf(err) != llm.KindServer {
		t.Errorf("err = %v, want the last model's server error", err)
	}
	if m.Name() != "a/a" {
		t.Errorf("name = %q, want the primary's", m.Name())
	}
}

func TestStreamBrokenAfterFirstEventDoesNotFallBack(t *testing.T) {
	broken := llmtest.Reply{
		Events: []llm.Event{{Kind: llm.EventText, Text: "par"}},
		Err:    &llm.Error{Kind: llm.KindNetwork, Err: llm.ErrIncomplete},
	}
	primary := llmtest.NewModel("a/a", broken)
	secondary := llmtest.NewModel("b/b", llmtest.Text("whole"))
	m := fallback.New(fallback.Options{}, secondary)(primary)
	_, err := llm.Collect(m.Stream(t.Context(), req()))
	if !errors.Is(err, llm.ErrIncomplete) {
		t.Errorf("err = %v, want ErrIncomplete", err)
	}
	if n := len(secondary.Requests()); n != 0 {
		t.Errorf("secondary requests = %d, want 0", n)
	}
}

// TestOpenBreakerSkipsDeadModel: after Failures consecutive failures the
// primary gets no request until the cool-down has passed; then one probe
// goes through and its success closes the breaker.
func TestOpenBreakerSkipsDeadModel(t *testing.T) {
	clock := clockwork.NewFakeClock()
	primary := llmtest.NewModel("a/dead")
	for range 3 {
		primary.Enqueue(llmtest.Fail(llm.KindServer))
	}
	secondary := llmtest.NewEcho("b/alive")
	breakers := fallback.Breakers(fallback.BreakerOptions{Failures: 3, CoolDown: time.Minute, Clock: clock})
	m := fallback.New(fallback.Options{}, breakers(secondary))(breakers(primary))

	for range 3 {
		if _, err := m.Generate(t.Context(), req()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(primary.Requests()); n != 3 {
		t.Fatalf("primary requests = %d, want 3", n)
	}
	// Open: the dead model gets nothing.
	for range 5 {
		if _, err := m.Generate(t.Context(), req()); err != nil {
			t.Fatal(err)
		}
		if _, err := llm.Collect(m.Stream(t.Context(), req())); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(primary.Requests()); n != 3 {
		t.Fatalf("primary requests while open = %d, want 3", n)
	}
	// Its own error says why.
	_, err := breakers(llmtest.NewModel("a/dead")).Generate(t.Context(), req())
	if !errors.Is(err, fallback.ErrOpen) || llm.KindOf(err) != llm.KindOverloaded {
		t.Errorf("open breaker error = %v", err)
	}

	clock.Advance(time.Minute)
	primary.Enqueue(llmtest.Text("back"))
	resp, err := m.Generate(t.Context(), req())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "a/dead" {
		t.Errorf("probe served by %q, want the recovered primary", resp.Model)
	}
	primary.Enqueue(llmtest.Text("again"))
	if resp, _ := m.Generate(t.Context(), req()); resp == nil || resp.Model != "a/dead" {
		t.Errorf("after a successful probe the breaker should be closed")
	}
}

func TestBreakerFailedProbeReopens(t *testing.T) {
	clock := clockwork.NewFakeClock()
	dead := llmtest.NewModel("a/dead", llmtest.Fail(llm.KindServer), llmtest.Fail(llm.KindServer), llmtest.Text("late"))
	m := fallback.Breakers(fallback.BreakerOptions{Failures: 1, CoolDown: time.Second, Clock: clock})(dead)
	var kinds []string
	call := func() {
		_, err := m.Generate(t.Context(), req())
		switch {
		case errors.Is(err, fallback.ErrOpen):
			kinds = append(kinds, "open")
		case err != nil:
			kinds = append(kinds, string(llm.KindOf(err)))
		default:
			kinds = append(kinds, "ok")
		}
	}
	call()                     // fails: opens
	call()                     // open
	clock.Advance(time.Second) //
	call()                     // probe fails: reopens
	call()                     // open
	clock.Advance(time.Second) //
	call()                     // probe succeeds
	want := []string{"server", "open", "server", "open", "ok"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

func TestBreakerAdmitsOneProbeAtATime(t *testing.T) {
	clock := clockwork.NewFakeClock()
	entered := make(chan struct{})
	release := make(chan struct{})
	calls := 0
	slow := llm.Funcs{
		NameFunc: func() string { return "a/slow" },
		GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
			calls++
			if calls == 1 {
				return nil, &llm.Error{Kind: llm.KindServer}
			}
			entered <- struct{}{}
			<-release
			return &llm.Response{Model: "a/slow"}, nil
		},
	}
	m := fallback.Breakers(fallback.BreakerOptions{Failures: 1, CoolDown: time.Second, Clock: clock})(slow)
	m.Generate(t.Context(), req()) // opens
	clock.Advance(time.Second)
	probe := make(chan error, 1)
	go func() { _, err := m.Generate(t.Context(), req()); probe <- err }()
	<-entered
	if _, err := m.Generate(t.Context(), req()); !errors.Is(err, fallback.ErrOpen) {
		t.Errorf("second call during the probe: err = %v, want ErrOpen", err)
	}
	close(release)
	if err := <-probe; err != nil {
		t.Fatal(err)
	}
}

func TestBreakerIgnoresInvalidRequests(t *testing.T) {
	fake := llmtest.NewModel("a/a", llmtest.Fail(llm.KindInvalidRequest), llmtest.Fail(llm.KindInvalidRequest), llmtest.Text("ok"))
	m := fallback.Breakers(fallback.BreakerOptions{Failures: 1, Clock: clockwork.NewFakeClock()})(fake)
	m.Generate(t.Context(), req())
	m.Generate(t.Context(), req())
	if _, err := m.Generate(t.Context(), req()); err != nil {
		t.Errorf("err = %v: invalid requests must not open the breaker", err)
	}
}
