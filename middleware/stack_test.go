package middleware_test

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/middleware"
	"github.com/keelai/keel/middleware/callinfo"
	"github.com/keelai/keel/middleware/fallback"
	"github.com/keelai/keel/middleware/metrics"
	"github.com/keelai/keel/middleware/ratelimit"
	"github.com/keelai/keel/middleware/respcache"
	"github.com/keelai/keel/middleware/retry"
	"github.com/keelai/keel/provider/anthropic"
	"github.com/keelai/keel/provider/openai"
)

// These tests run the default stack against the wire emulators through the
// real provider adapters and official SDKs: faults are HTTP statuses,
// headers and cut connections, as in production.

func claude(t *testing.T) (*anthropictest.Server, llm.Model) {
	srv := anthropictest.NewServer(t)
	return srv, anthropic.New(anthropic.Options{APIKey: "test-key", BaseURL: srv.URL}).Model("claude-sonnet-4-5")
}

func gpt(t *testing.T) (*openaitest.Server, llm.Model) {
	srv := openaitest.NewServer(t)
	return srv, openai.New(openai.Options{APIKey: "test-key", BaseURL: srv.URL}).Model("gpt-4.1-mini")
}

func ok(text string) llmtest.WireReply {
	return llmtest.WireReply{Response: &llm.Response{
		Content: []llm.Part{llm.Text{Text: text}}, StopReason: llm.StopEndTurn,
		Usage: llm.Usage{InputTokens: 10, OutputTokens: 3},
	}}
}

func fault(status int, header ...string) llmtest.WireReply {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return llmtest.WireReply{Fault: llmtest.Fault{Status: status, Header: h}}
}

func req() *llm.Request {
	return &llm.Request{Messages: []llm.Message{llm.UserText("hello")}, MaxTokens: 100}
}

type path struct {
	name string
	call func(context.Context, llm.Model, *llm.Request) (*llm.Response, error)
}

var paths = []path{
	{"generate", func(ctx context.Context, m llm.Model, r *llm.Request) (*llm.Response, error) {
		return m.Generate(ctx, r)
	}},
	{"stream", func(ctx context.Context, m llm.Model, r *llm.Request) (*llm.Response, error) {
		return llm.Collect(m.Stream(ctx, r))
	}},
}

func TestRetryAfterHeaderIsWaited(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			srv, model := claude(t)
			srv.Enqueue(fault(429, "retry-after", "2"), ok("hi"))
			clock := clockwork.NewFakeClock()
			var waits []time.Duration
			m := middleware.Stack(middleware.StackOptions{
				Clock: clock,
				Retry: retry.Options{OnRetry: func(_ int, _ error, d time.Duration) { waits = append(waits, d) }},
			})(model)
			ctx, info := callinfo.Ensure(t.Context())
			done := make(chan error, 1)
			go func() { _, err := p.call(ctx, m, req()); done <- err }()
			if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
				t.Fatal(err)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Fatalf("requests before the wait ended = %d, want 1", n)
			}
			clock.Advance(2 * time.Second)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]time.Duration{2 * time.Second}, waits); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if n := len(srv.Requests()); n != 2 {
				t.Errorf("requests = %d, want 2", n)
			}
			if a := info.Record().Attempts; a != 2 {
				t.Errorf("attempts = %d, want 2", a)
			}
		})
	}
}

func TestOverloadedPrimaryFallsBackToSecondProvider(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			csrv, primary := claude(t)
			for range 5 {
				csrv.Enqueue(fault(529))
			}
			osrv, secondary := gpt(t)
			osrv.Enqueue(ok("from openai"))
			m := middleware.Stack(middleware.StackOptions{Fallbacks: []llm.Model{secondary}})(primary)
			ctx, info := callinfo.Ensure(t.Context())
			resp, err := p.call(ctx, m, req())
			if err != nil {
				t.Fatal(err)
			}
			if resp.Text() != "from openai" || resp.Model != "openai/gpt-4.1-mini" {
				t.Errorf("served %q by %q", resp.Text(), resp.Model)
			}
			rec := info.Record()
			if rec.Model != "openai/gpt-4.1-mini" || rec.Fallbacks != 1 || rec.Attempts != 2 {
				t.Errorf("record = %+v", rec)
			}
			if n := len(csrv.Requests()); n != 1 {
				t.Errorf("primary got %d requests, want 1: overloaded moves on at once", n)
			}
		})
	}
}

func TestBadRequestIsSentOnce(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			srv, model := gpt(t)
			srv.Enqueue(fault(400), ok("never"))
			osrv, secondary := claude(t)
			m := middleware.Stack(middleware.StackOptions{Fallbacks: []llm.Model{secondary}})(model)
			_, err := p.call(t.Context(), m, req())
			if llm.KindOf(err) != llm.KindInvalidRequest {
				t.Fatalf("err = %v, want invalid_request", err)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
			if n := len(osrv.Requests()); n != 0 {
				t.Errorf("fallback got %d requests, want 0", n)
			}
		})
	}
}

func TestStreamBrokenAfterFirstTokenIsAnErrorNotRetried(t *testing.T) {
	srv, model := claude(t)
	// message_start, content_block_start, ping, the first text delta: cut.
	srv.Enqueue(llmtest.WireReply{
		Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "one two three"}}, StopReason: llm.StopEndTurn},
		Fault:    llmtest.Fault{Drop: true, DropAfter: 4},
	}, ok("second answer"))
	osrv, secondary := gpt(t)
	m := middleware.Stack(middleware.StackOptions{Fallbacks: []llm.Model{secondary}, Retry: retry.Options{Jitter: func(time.Duration) time.Duration { return 0 }}})(model)
	var text string
	var gotErr error
	for ev, err := range m.Stream(t.Context(), req()) {
		if err != nil {
			gotErr = err
			break
		}
		text += ev.Text
	}
	if gotErr == nil || llm.KindOf(gotErr) != llm.KindNetwork {
		t.Fatalf("err = %v, want a network error for the cut stream", gotErr)
	}
	if text == "" {
		t.Error("the first token did not reach the caller")
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
	if n := len(osrv.Requests()); n != 0 {
		t.Errorf("fallback got %d requests, want 0", n)
	}
}

func TestOpenBreakerSkipsDeadModelWithoutARequest(t *testing.T) {
	csrv, primary := claude(t)
	for range 10 {
		csrv.Enqueue(fault(500))
	}
	osrv, secondary := gpt(t)
	for range 5 {
		osrv.Enqueue(ok("alive"))
	}
	clock := clockwork.NewFakeClock()
	m := middleware.Stack(middleware.StackOptions{
		Fallbacks: []llm.Model{secondary},
		Retry:     retry.Options{MaxAttempts: 1},
		Breaker:   fallback.BreakerOptions{Failures: 2, CoolDown: time.Minute},
		Clock:     clock,
	})(primary)
	for i := range 5 {
		resp, err := m.Generate(t.Context(), req())
		if err != nil || resp.Text() != "alive" {
			t.Fatalf("call %d: %v, %v", i, resp, err)
		}
	}
	if n := len(csrv.Requests()); n != 2 {
		t.Errorf("dead model got %d requests, want 2 (then its breaker opened)", n)
	}
}

// TestConcurrentCallersNeverExceedRPMOverTheWire: 50 callers through the
// stack to the OpenAI emulator at 10 requests a minute; the times at which
// requests leave (on the fake clock) never put 11 in one minute.
func TestConcurrentCallersNeverExceedRPMOverTheWire(t *testing.T) {
	srv := openaitest.NewServer(t)
	clock := clockwork.NewFakeClock()
	var mu sync.Mutex
	var sent []time.Time
	client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		sent = append(sent, clock.Now())
		mu.Unlock()
		return http.DefaultTransport.RoundTrip(r)
	})}
	model := openai.New(openai.Options{APIKey: "k", BaseURL: srv.URL, HTTPClient: client}).Model("gpt-4.1-mini")
	m := middleware.Stack(middleware.StackOptions{
		Clock:      clock,
		RateLimits: func(string) ratelimit.Limits { return ratelimit.Limits{RPM: 10} },
	})(model)

	const callers = 50
	done := make(chan error, callers)
	for range callers {
		go func() { _, err := m.Generate(context.Background(), req()); done <- err }()
	}
	for finished := 0; finished < callers; {
		ctx, cancel := context.WithCancel(t.Context())
		blocked := make(chan error, 1)
		go func(n int) { blocked <- clock.BlockUntilContext(ctx, n) }(callers - finished)
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
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
	slices.SortFunc(sent, func(a, b time.Time) int { return a.Compare(b) })
	if len(sent) != callers {
		t.Fatalf("%d requests sent, want %d", len(sent), callers)
	}
	for i := 10; i < len(sent); i++ {
		if gap := sent[i].Sub(sent[i-10]); gap < time.Minute {
			t.Fatalf("requests %d and %d left %v apart: 11 within a minute", i-10, i, gap)
		}
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSpentBudgetRefusesBeforeAnyRequest(t *testing.T) {
	srv, model := claude(t)
	srv.Enqueue(llmtest.WireReply{Response: &llm.Response{
		Content: []llm.Part{llm.Text{Text: "pricey"}}, StopReason: llm.StopEndTurn,
		Usage: llm.Usage{OutputTokens: 200_000}, // $3
	}})
	budget := cost.NewBudget("run", 2*cost.Dollar, cost.BudgetOptions{})
	m := middleware.Stack(middleware.StackOptions{Budgets: []cost.BudgetSource{cost.RunBudgets()}})(model)
	ctx := cost.WithBudget(t.Context(), budget)
	if _, err := m.Generate(ctx, req()); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if _, err := p.call(ctx, m, req()); !errors.Is(err, cost.ErrBudgetExceeded) {
			t.Errorf("%s: err = %v, want the budget's refusal", p.name, err)
		}
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
	if got, _ := budget.Spent(t.Context()); got != 3*cost.Dollar {
		t.Errorf("spent %v, want $3", got)
	}
}

// TestStreamedAndGeneratedCallsCostTheSame: over the Anthropic wire, where
// cache usage arrives in message_start and message_delta, both paths give
// the meter the same usage and cost.
func TestStreamedAndGeneratedCallsCostTheSame(t *testing.T) {
	srv, model := claude(t)
	u := llm.Usage{InputTokens: 50, OutputTokens: 20, CacheReadTokens: 3000, CacheWriteTokens: 1000, CacheWrite1hTokens: 500}
	answer := func() llmtest.WireReply {
		return llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "cached answer"}}, StopReason: llm.StopEndTurn, Usage: u}}
	}
	srv.Enqueue(answer(), answer())
	// 50×3 + 20×15 + 3000×0.30 + 1000×3.75 + 500×6 = 8 100 µ$
	want := cost.Total{Calls: 1, Usage: u, Cost: 8_100_000}
	for _, p := range paths {
		meter := cost.NewMeter()
		m := middleware.Stack(middleware.StackOptions{Meter: meter})(model)
		ctx, info := callinfo.Ensure(t.Context())
		if _, err := p.call(ctx, m, req()); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, meter.Report().ByModel["anthropic/claude-sonnet-4-5"]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", p.name, diff)
		}
		if c := info.Record().CostNanoUSD; c != 8_100_000 {
			t.Errorf("%s: callinfo cost %d", p.name, c)
		}
	}
}

// TestEarlyBreakStopsUpstreamThroughEveryLayer: a consumer that stops
// reading ends the provider's stream, through every middleware of a full
// stack, and each reporter records the call once.
func TestEarlyBreakStopsUpstreamThroughEveryLayer(t *testing.T) {
	stopped := make(chan struct{})
	endless := llm.Funcs{
		NameFunc: func() string { return "anthropic/claude-haiku-4-5" },
		StreamFunc: func(ctx context.Context, _ *llm.Request) iter.Seq2[llm.Event, error] {
			return func(yield func(llm.Event, error) bool) {
				defer close(stopped)
				for ctx.Err() == nil {
					if !yield(llm.Event{Kind: llm.EventText, Text: "la "}, nil) {
						return
					}
				}
			}
		},
	}
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	met, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	m := middleware.Stack(middleware.StackOptions{
		Fallbacks:      []llm.Model{llmtest.NewEcho("openai/gpt-4.1-mini")},
		RateLimits:     func(string) ratelimit.Limits { return ratelimit.Limits{RPM: 100} },
		Timeout:        time.Hour,
		AttemptTimeout: time.Hour,
		Cache:          respcache.New(respcache.NewMemory(1<<20), respcache.Options{}),
		Meter:          cost.NewMeter(),
		Logger:         slog.New(slog.NewJSONHandler(&logs, nil)),
		Metrics:        met,
		Tracer:         sdktrace.NewTracerProvider(),
	})(endless)
	n := 0
	r := req()
	r.Temperature = llm.Float(0)
	for range m.Stream(t.Context(), r) {
		if n++; n == 2 {
			break
		}
	}
	<-stopped
	if c := strings.Count(logs.String(), `"error_kind":"abandoned"`); c != 1 {
		t.Errorf("%d abandoned records in the log, want 1:\n%s", c, logs.String())
	}
	want := `
# HELP keel_llm_requests_total Model calls by model and outcome (ok or the error kind).
# TYPE keel_llm_requests_total counter
keel_llm_requests_total{model="anthropic/claude-haiku-4-5",outcome="abandoned"} 1
keel_llm_requests_total{model="anthropic/claude-haiku-4-5",outcome="ok"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "keel_llm_requests_total"); err != nil {
		t.Error(err)
	}
}

// The stack writes what it learnt onto the response, on both paths: the
// attempts over the wire, the cost, and a cache hit on the second call.
func TestResponseCarriesAttemptsCostAndCacheHit(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			srv, model := claude(t)
			srv.Enqueue(fault(500, "retry-after-ms", "1"), ok("fine"))
			m := middleware.Stack(middleware.StackOptions{
				Cache: respcache.New(respcache.NewMemory(1<<20), respcache.Options{}),
			})(model)
			r := req()
			r.Temperature = llm.Float(0) // cacheable by default
			resp, err := p.call(t.Context(), m, r)
			if err != nil {
				t.Fatal(err)
			}
			// 10 input × $3/M + 3 output × $15/M = $0.000075.
			if resp.Attempts != 2 || resp.CacheHit || resp.Cost != 0.000075 {
				t.Errorf("first call: attempts %d, cache hit %v, cost %v; want 2, false, 0.000075", resp.Attempts, resp.CacheHit, resp.Cost)
			}
			again, err := p.call(t.Context(), m, r)
			if err != nil {
				t.Fatal(err)
			}
			if again.Attempts != 0 || !again.CacheHit || again.Cost != 0 || again.Text() != "fine" {
				t.Errorf("second call: attempts %d, cache hit %v, cost %v, text %q; want a free cache hit", again.Attempts, again.CacheHit, again.Cost, again.Text())
			}
			if n := len(srv.Requests()); n != 2 {
				t.Errorf("%d requests reached the server, want 2", n)
			}
		})
	}
}
