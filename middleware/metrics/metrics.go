// Package metrics exports Prometheus metrics of model calls: requests by
// model and outcome, tokens by class, cost, latency, time to first token,
// retries, fallbacks, cache hits, rate-limit waits and guard flags.
//
//	met, err := metrics.New(prometheus.DefaultRegisterer)
//	m = met.Middleware()(m)
//
// Retries, fallbacks, cache hits, cost and waits are read from callinfo, so
// this middleware must sit outside the ones that record them.
package metrics

import (
	"context"
	"errors"
	"iter"
	"sync"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
)

// Metrics holds the collectors. Register them once per registry (New does)
// and share the value among every model.
type Metrics struct {
	clock clockwork.Clock

	requests  *prometheus.CounterVec
	tokens    *prometheus.CounterVec
	cost      *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	ttft      *prometheus.HistogramVec
	retries   *prometheus.CounterVec
	fallbacks *prometheus.CounterVec
	cacheHits *prometheus.CounterVec
	waits     *prometheus.HistogramVec
	flags     *prometheus.CounterVec

	// byModel caches each model's label-bound collectors: a label lookup
	// hashes the values, and the happy path would do a dozen per call.
	byModel sync.Map // model name → *modelMetrics
}

type modelMetrics struct {
	ok                                           prometheus.Counter
	in, out, cacheRead, cacheWrite, cacheWrite1h prometheus.Counter
	cost                                         prometheus.Counter
	latency                                      prometheus.Observer
	retries, fallbacks, cacheHits                prometheus.Counter
}

// New creates the collectors and registers them with reg.
func New(reg prometheus.Registerer, clock ...clockwork.Clock) (*Metrics, error) {
	m := &Metrics{
		clock: clockwork.NewRealClock(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_llm_requests_total", Help: "Model calls by model and outcome (ok or the error kind).",
		}, []string{"model", "outcome"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_llm_tokens_total", Help: "Tokens by model and class (input, output, cache_read, cache_write_5m, cache_write_1h).",
		}, []string{"model", "type"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_llm_cost_usd_total", Help: "Cost of model calls in US dollars.",
		}, []string{"model"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keel_llm_request_duration_seconds", Help: "Duration of model calls, every attempt included.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160},
		}, []string{"model"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keel_llm_time_to_first_token_seconds", Help: "Time to the first streamed token.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32},
		}, []string{"model"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_llm_retries_total", Help: "Requests sent again after a failure.",
		}, []string{"model"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_llm_fallbacks_total", Help: "Calls that moved to a fallback model, by the model that served.",
		}, []string{"model"}),
		cacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_llm_cache_hits_total", Help: "Calls answered from the response cache.",
		}, []string{"model"}),
		waits: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keel_llm_rate_limit_wait_seconds", Help: "Time calls waited for the client-side rate limiter (calls that waited).",
			Buckets: []float64{0.01, 0.1, 0.5, 1, 5, 15, 30, 60},
		}, []string{"model"}),
		flags: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keel_llm_guard_flags_total", Help: "Guard rules matched by untrusted input.",
		}, []string{"rule"}),
	}
	if len(clock) > 0 && clock[0] != nil {
		m.clock = clock[0]
	}
	for _, c := range []prometheus.Collector{m.requests, m.tokens, m.cost, m.latency, m.ttft, m.retries, m.fallbacks, m.cacheHits, m.waits, m.flags} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) model(name string) *modelMetrics {
	if mm, ok := m.byModel.Load(name); ok {
		return mm.(*modelMetrics)
	}
	mm := &modelMetrics{
		ok:           m.requests.WithLabelValues(name, "ok"),
		in:           m.tokens.WithLabelValues(name, "input"),
		out:          m.tokens.WithLabelValues(name, "output"),
		cacheRead:    m.tokens.WithLabelValues(name, "cache_read"),
		cacheWrite:   m.tokens.WithLabelValues(name, "cache_write_5m"),
		cacheWrite1h: m.tokens.WithLabelValues(name, "cache_write_1h"),
		cost:         m.cost.WithLabelValues(name),
		latency:      m.latency.WithLabelValues(name),
		retries:      m.retries.WithLabelValues(name),
		fallbacks:    m.fallbacks.WithLabelValues(name),
		cacheHits:    m.cacheHits.WithLabelValues(name),
	}
	actual, _ := m.byModel.LoadOrStore(name, mm)
	return actual.(*modelMetrics)
}

// Middleware returns the metrics middleware.
func (m *Metrics) Middleware() llm.Middleware {
	return func(next llm.Model) llm.Model {
		return llm.Funcs{
			Next: next,
			GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
				ctx, info := callinfo.Ensure(ctx)
				start := m.clock.Now()
				resp, err := next.Generate(ctx, req)
				var u llm.Usage
				if resp != nil {
					u = resp.Usage
				}
				m.observe(next.Name(), info, resp, u, err, m.clock.Since(start).Seconds(), -1)
				return resp, err
			},
			StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
				return func(yield func(llm.Event, error) bool) {
					ctx, info := callinfo.Ensure(ctx)
					start := m.clock.Now()
					var (
						resp *llm.Response
						u    llm.Usage
						fail error
						ttft = -1.0
					)
					defer func() {
						if resp == nil && fail == nil {
							fail = errAbandoned
						}
						m.observe(next.Name(), info, resp, u, fail, m.clock.Since(start).Seconds(), ttft)
					}()
					for ev, err := range next.Stream(ctx, req) {
						switch {
						case err != nil:
							fail = err
						case ev.Kind == llm.EventUsage && ev.Usage != nil:
							u = *ev.Usage
						case ev.Kind == llm.EventDone && ev.Response != nil:
							resp, u = ev.Response, ev.Response.Usage
						case ttft < 0 && (ev.Kind == llm.EventText || ev.Kind == llm.EventThinking || ev.Kind == llm.EventToolCallStart):
							ttft = m.clock.Since(start).Seconds()
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

var errAbandoned = errors.New("abandoned")

func (m *Metrics) observe(requested string, info *callinfo.Info, resp *llm.Response, u llm.Usage, err error, seconds, ttft float64) {
	rec := info.Record()
	name := rec.Model
	if resp != nil && resp.Model != "" {
		name = resp.Model
	}
	if name == "" {
		name = requested
	}
	mm := m.model(name)
	switch {
	case err == nil:
		mm.ok.Inc()
	case err == errAbandoned:
		m.requests.WithLabelValues(name, "abandoned").Inc()
	default:
		kind := string(llm.KindOf(err))
		if kind == "" {
			kind = "unknown"
		}
		m.requests.WithLabelValues(name, kind).Inc()
	}
	add(mm.in, u.InputTokens)
	add(mm.out, u.OutputTokens)
	add(mm.cacheRead, u.CacheReadTokens)
	add(mm.cacheWrite, u.CacheWriteTokens)
	add(mm.cacheWrite1h, u.CacheWrite1hTokens)
	if rec.CostNanoUSD > 0 {
		mm.cost.Add(float64(rec.CostNanoUSD) / 1e9)
	}
	mm.latency.Observe(seconds)
	if ttft >= 0 {
		m.ttft.WithLabelValues(name).Observe(ttft)
	}
	add(mm.retries, rec.Attempts-1)
	add(mm.fallbacks, rec.Fallbacks)
	if rec.CacheHit {
		mm.cacheHits.Inc()
	}
	if rec.RateLimitWait > 0 {
		m.waits.WithLabelValues(name).Observe(rec.RateLimitWait.Seconds())
	}
	for _, f := range rec.Flags {
		m.flags.WithLabelValues(f).Inc()
	}
}

func add(c prometheus.Counter, n int) {
	if n > 0 {
		c.Add(float64(n))
	}
}
