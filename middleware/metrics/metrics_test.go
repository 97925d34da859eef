package metrics_test

import (
	"context"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/middleware/callinfo"
	"github.com/keelai/keel/middleware/metrics"
)

func reply() llmtest.Reply {
	return llmtest.Reply{Response: &llm.Response{
		Content: []llm.Part{llm.Text{Text: "hi there"}}, StopReason: llm.StopEndTurn,
		Usage: llm.Usage{InputTokens: 5, OutputTokens: 2, CacheReadTokens: 100, CacheWriteTokens: 20, CacheWrite1hTokens: 10},
	}}
}

// recorder stands for the inner middleware that fill callinfo.
func recorder(f func(*callinfo.Record)) llm.Middleware {
	return func(next llm.Model) llm.Model {
		return llm.Funcs{Next: next,
			GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
				callinfo.From(ctx).Update(f)
				return next.Generate(ctx, req)
			},
			StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
				callinfo.From(ctx).Update(f)
				return next.Stream(ctx, req)
			}}
	}
}

const expected = `
# HELP keel_llm_tokens_total Tokens by model and class (input, output, cache_read, cache_write_5m, cache_write_1h).
# TYPE keel_llm_tokens_total counter
keel_llm_tokens_total{model="b/served",type="cache_read"} 100
keel_llm_tokens_total{model="b/served",type="cache_write_1h"} 10
keel_llm_tokens_total{model="b/served",type="cache_write_5m"} 20
keel_llm_tokens_total{model="b/served",type="input"} 5
keel_llm_tokens_total{model="b/served",type="output"} 2
# HELP keel_llm_requests_total Model calls by model and outcome (ok or the error kind).
# TYPE keel_llm_requests_total counter
keel_llm_requests_total{model="b/served",outcome="ok"} 1
# HELP keel_llm_retries_total Requests sent again after a failure.
# TYPE keel_llm_retries_total counter
keel_llm_retries_total{model="b/served"} 2
# HELP keel_llm_fallbacks_total Calls that moved to a fallback model, by the model that served.
# TYPE keel_llm_fallbacks_total counter
keel_llm_fallbacks_total{model="b/served"} 1
# HELP keel_llm_cost_usd_total Cost of model calls in US dollars.
# TYPE keel_llm_cost_usd_total counter
keel_llm_cost_usd_total{model="b/served"} 0.0025
# HELP keel_llm_guard_flags_total Guard rules matched by untrusted input.
# TYPE keel_llm_guard_flags_total counter
keel_llm_guard_flags_total{rule="ignore_instructions"} 1
`

// TestSameMetricsForStreamAndGenerate: the streamed and the generated call
// of one request leave identical counters, cache tokens included.
func TestSameMetricsForStreamAndGenerate(t *testing.T) {
	for _, stream := range []bool{false, true} {
		reg := prometheus.NewRegistry()
		met, err := metrics.New(reg)
		if err != nil {
			t.Fatal(err)
		}
		fake := llmtest.NewModel("b/served", reply())
		m := llm.Chain(fake, met.Middleware(), recorder(func(r *callinfo.Record) {
			r.Attempts, r.Fallbacks, r.Model, r.CostNanoUSD = 3, 1, "b/served", 2_500_000
			r.Flags = []string{"ignore_instructions"}
		}))
		if stream {
			_, err = llm.Collect(m.Stream(t.Context(), &llm.Request{}))
		} else {
			_, err = m.Generate(t.Context(), &llm.Request{})
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := testutil.GatherAndCompare(reg, strings.NewReader(expected),
			"keel_llm_tokens_total", "keel_llm_requests_total", "keel_llm_retries_total",
			"keel_llm_fallbacks_total", "keel_llm_cost_usd_total", "keel_llm_guard_flags_total"); err != nil {
			t.Errorf("stream=%v: %v", stream, err)
		}
		wantTTFT := 0
		if stream {
			wantTTFT = 1
		}
		if n := testutil.CollectAndCount(reg, "keel_llm_time_to_first_token_seconds"); n != wantTTFT {
			t.Errorf("stream=%v: %d ttft series", stream, n)
		}
	}
}

func TestOutcomesAndCacheHitsAndWaits(t *testing.T) {
	reg := prometheus.NewRegistry()
	clock := clockwork.NewFakeClock()
	met, _ := metrics.New(reg, clock)
	fake := llmtest.NewModel("a/m", llmtest.Fail(llm.KindRateLimited), llmtest.Text("x"), llmtest.Text("y z"))
	hit := true
	m := llm.Chain(fake, met.Middleware(), recorder(func(r *callinfo.Record) {
		r.CacheHit = hit
		r.RateLimitWait = 2 * time.Second
	}))
	m.Generate(t.Context(), &llm.Request{})
	m.Generate(t.Context(), &llm.Request{})
	hit = false
	for range m.Stream(t.Context(), &llm.Request{}) {
		break
	}
	for outcome, want := range map[string]float64{"rate_limited": 1, "ok": 1, "abandoned": 1} {
		if got := testutil.ToFloat64(mustCounter(t, reg, outcome)); got != want {
			t.Errorf("outcome %s = %v, want %v", outcome, got, want)
		}
	}
	if n := testutil.CollectAndCount(reg, "keel_llm_cache_hits_total"); n != 1 {
		t.Errorf("cache hit series = %d", n)
	}
	if n := testutil.CollectAndCount(reg, "keel_llm_rate_limit_wait_seconds"); n != 1 {
		t.Errorf("wait series = %d", n)
	}
}

func mustCounter(t *testing.T, reg *prometheus.Registry, outcome string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "keel_llm_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
				}
			}
		}
	}
	t.Fatalf("no requests with outcome %s", outcome)
	return nil
}

func TestRegisteringTwiceFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(reg); err == nil {
		t.Error("a second registration on one registry must fail")
	}
}
