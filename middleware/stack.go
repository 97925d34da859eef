// Package middleware composes Keel's production middleware into the default
// stack, so that the CLI and the server wire a model with one call:
//
//	m = middleware.Stack(middleware.StackOptions{
//		Fallbacks: []llm.Model{secondary},
//		Logger:    slog.Default(),
//	})(primary)
//
// Each middleware lives in its own package (retry, fallback, ratelimit,
// timeout, respcache, logging, metrics, tracing, guard; cost for prices,
// meters and budgets) and can be used alone; they share what they learn
// about a call through callinfo. The order, outermost first:
//
//	stamp → tracing → metrics → logging → guard → respcache → cost → timeout (call)
//	  → fallback over, for each model: breaker → retry → ratelimit → timeout (attempt)
//
// docs/reliability-and-cost.md explains why this order.
package middleware

import (
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
	"github.com/keelai/keel/middleware/fallback"
	"github.com/keelai/keel/middleware/guard"
	"github.com/keelai/keel/middleware/logging"
	"github.com/keelai/keel/middleware/metrics"
	"github.com/keelai/keel/middleware/ratelimit"
	"github.com/keelai/keel/middleware/respcache"
	"github.com/keelai/keel/middleware/retry"
	"github.com/keelai/keel/middleware/timeout"
	"github.com/keelai/keel/middleware/tracing"
)

// StackOptions configures Stack. The zero value gives retries, circuit
// breakers, the guard in flag mode and cost tracking at list prices;
// everything that needs a destination (logs, metrics, traces, cache,
// budgets) is off until given one.
type StackOptions struct {
	// Fallbacks are tried in order after the wrapped model (keel.yaml
	// `models.<alias>.fallbacks`). Each gets the same per-model chain.
	Fallbacks []llm.Model
	Fallback  fallback.Options

	// Retry configures the retries of each model. When a model has a
	// fallback after it and Retry.Retryable is nil, an overloaded error is
	// not retried on it: the call moves on at once.
	Retry retry.Options
	// Breaker configures the circuit breakers; NoBreaker leaves them out.
	Breaker   fallback.BreakerOptions
	NoBreaker bool
	// Breakers, when set, is the breaker middleware to use instead of a
	// new one made from Breaker (fallback.Breakers): a server that builds
	// one Stack per alias (each with its own fallbacks) passes the same
	// value to all, so that a model behind two aliases is broken once.
	Breakers llm.Middleware

	// RateLimits returns each model's client-side limits; nil means none.
	RateLimits func(model string) ratelimit.Limits

	// Timeout bounds a whole call, AttemptTimeout each attempt; 0 means no
	// bound (the caller's context still applies).
	Timeout, AttemptTimeout time.Duration

	// Cache, when set, answers repeated requests (see respcache).
	Cache *respcache.Cache

	// Prices prices every call (nil means cost.DefaultTable); Meter and
	// Budgets are optional.
	Prices  *cost.Table
	Meter   *cost.Meter
	Budgets []cost.BudgetSource

	// Guard configures the guard; NoGuard leaves it out.
	Guard   guard.Options
	NoGuard bool

	// Logger, when set, receives one record per call.
	Logger  *slog.Logger
	Logging logging.Options
	// Metrics, when set, is fed every call.
	Metrics *metrics.Metrics
	// Tracer, when set, records a span per call (tracing.FromEnv gives one
	// when the OTEL_ variables ask for it).
	Tracer trace.TracerProvider

	// Clock drives every wait and window; nil means the real clock.
	Clock clockwork.Clock
}

// Stack returns a middleware wrapping a model in the default stack. The
// breakers and rate limiters are made once, here, and shared by every
// model the returned middleware wraps, by model name: call Stack once and
// apply the result to all models, so that a model used by two aliases is
// limited and broken once.
func Stack(opts StackOptions) llm.Middleware {
	if opts.Clock != nil {
		opts.Retry.Clock = opts.Clock
		opts.Breaker.Clock = opts.Clock
		if opts.Logging.Clock == nil {
			opts.Logging.Clock = opts.Clock
		}
	}
	breakers := opts.Breakers
	if breakers == nil {
		breakers = fallback.Breakers(opts.Breaker)
	}
	var limits llm.Middleware
	if opts.RateLimits != nil {
		limits = ratelimit.PerModel(opts.RateLimits, ratelimit.Options{Clock: opts.Clock})
	}
	// Each model's own chain, innermost last.
	perModel := func(m llm.Model, last bool) llm.Model {
		ro := opts.Retry
		if !last && ro.Retryable == nil {
			ro.Retryable = func(err error) bool {
				return llm.KindOf(err) != llm.KindOverloaded && llm.IsRetryable(err)
			}
		}
		var mw []llm.Middleware
		if !opts.NoBreaker {
			mw = append(mw, breakers)
		}
		mw = append(mw, retry.New(ro))
		if limits != nil {
			mw = append(mw, limits)
		}
		mw = append(mw, timeout.New(opts.AttemptTimeout))
		return llm.Chain(m, mw...)
	}
	fallbacks := make([]llm.Model, len(opts.Fallbacks))
	for i, m := range opts.Fallbacks {
		fallbacks[i] = perModel(m, i == len(opts.Fallbacks)-1)
	}

	// Stamp is outermost: it owns the call's record, which every other
	// middleware writes to, and copies it onto the response at the end.
	outer := []llm.Middleware{callinfo.Stamp()}
	if opts.Tracer != nil {
		outer = append(outer, tracing.New(opts.Tracer))
	}
	if opts.Metrics != nil {
		outer = append(outer, opts.Metrics.Middleware())
	}
	if opts.Logger != nil {
		outer = append(outer, logging.New(opts.Logger, opts.Logging))
	}
	if !opts.NoGuard {
		outer = append(outer, guard.New(opts.Guard))
	}
	if opts.Cache != nil {
		outer = append(outer, opts.Cache.Middleware())
	}
	outer = append(outer,
		cost.Track(cost.TrackOptions{Prices: opts.Prices, Meter: opts.Meter, Budgets: opts.Budgets}),
		timeout.New(opts.Timeout),
		fallback.New(opts.Fallback, fallbacks...),
	)
	return func(primary llm.Model) llm.Model {
		return llm.Chain(perModel(primary, len(fallbacks) == 0), outer...)
	}
}

// FromConfig maps keel.yaml onto the stack's options: the call timeout,
// attempts and budgets of `limits:` (the daily budget in memory, and the
// per-run budgets callers put in the context with cost.WithBudget), the
// price table with the `price:` overrides of the aliases, the aliases'
// `rate:` limits and the `guard:` settings. Fallbacks, destinations (logs,
// metrics, cache) and the clock are the caller's to add. A nil cfg gives
// the zero options.
func FromConfig(cfg *config.Config) (StackOptions, error) {
	var opts StackOptions
	if cfg == nil {
		return opts, nil
	}
	opts.Timeout = cfg.Limits.RequestTimeout
	opts.Retry = retry.Options{MaxAttempts: cfg.Limits.MaxAttempts}
	prices, err := Prices(cfg)
	if err != nil {
		return opts, err
	}
	opts.Prices = prices

	rates := map[string]ratelimit.Limits{}
	for _, m := range cfg.Models {
		if r := m.Rate; r != nil {
			rates[m.Name()] = ratelimit.Limits{RPM: r.RPM, InputTPM: r.InputTPM, OutputTPM: r.OutputTPM}
		}
	}
	if len(rates) > 0 {
		opts.RateLimits = func(model string) ratelimit.Limits { return rates[model] }
	}

	opts.Budgets = []cost.BudgetSource{cost.RunBudgets()}
	if d := cfg.Limits.DailyBudgetUSD; d > 0 {
		opts.Budgets = append(opts.Budgets, cost.Always(cost.NewBudget("daily", cost.Dollars(d), cost.BudgetOptions{Daily: true})))
	}

	switch cfg.Guard.Mode {
	case "off":
		opts.NoGuard = true
	case "refuse":
		opts.Guard.Mode = guard.Refuse
	}
	opts.Guard.MaxInputBytes = cfg.Guard.MaxInputBytes
	opts.Logging.Content = cfg.Logging.Content
	return opts, nil
}

// Prices returns the default price table with the `price:` overrides of
// the config's aliases. An override replaces the five token classes it
// names (a class left out is free, as the config documents) and keeps the
// default's batch discount and long-context tier.
func Prices(cfg *config.Config) (*cost.Table, error) {
	table := cost.DefaultTable()
	if cfg == nil {
		return table, nil
	}
	over := map[string]cost.Price{}
	for _, m := range cfg.Models {
		if m.Price == nil {
			continue
		}
		p, _ := table.Lookup(m.Name())
		p.Input, p.Output = m.Price.Input, m.Price.Output
		p.CacheRead, p.CacheWrite5m, p.CacheWrite1h = m.Price.CacheRead, m.Price.CacheWrite, m.Price.CacheWrite1h
		over[m.Name()] = p
	}
	if len(over) == 0 {
		return table, nil
	}
	return table.With(over)
}
