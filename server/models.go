package server

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware"
	"github.com/keelai/keel/middleware/callinfo"
	"github.com/keelai/keel/middleware/fallback"
	"github.com/keelai/keel/middleware/metrics"
	"github.com/keelai/keel/middleware/respcache"
	"github.com/keelai/keel/middleware/tracing"
	"github.com/keelai/keel/provider"
	"github.com/keelai/keel/server/backend"
	"github.com/keelai/keel/store/state"
)

// maxCachedModels bounds the models kept built: a client may name any
// `provider/model`, and each distinct name must not be kept forever. Past
// it, models are built per request (their breakers stay shared).
const maxCachedModels = 1024

// defaultCacheBytes is the in-memory response cache's size.
const defaultCacheBytes = 64 << 20

type modelsOptions struct {
	cfg         *config.Config
	res         *provider.Resolver
	log         *slog.Logger
	reg         prometheus.Registerer
	clock       clockwork.Clock
	cache       respcache.Store
	budgets     []cost.BudgetSource
	budgetStore cost.BudgetStore
	budgetOf    func(keyID string) (cost.USD, bool)
	ledger      *ledger
	adjust      func(*middleware.StackOptions)
}

// models is the server's backend.Models.
type models struct {
	res       *provider.Resolver
	base      middleware.StackOptions
	maxOutput int
	ledger    *ledger
	clock     clockwork.Clock

	mu    sync.RWMutex
	built map[string]*served
}

// newModels builds the stack options every model shares: one set of
// breakers, the metrics on the server's registry, the logger, the
// response cache, per-key daily budgets and tracing from the environment.
// The returned function shuts tracing down (nil when tracing is off).
func newModels(ctx context.Context, o modelsOptions) (*models, func(context.Context) error, error) {
	base, err := middleware.FromConfig(o.cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("server: %w", err)
	}
	if o.adjust != nil {
		o.adjust(&base)
	}
	base.Breakers = fallback.Breakers(base.Breaker)
	base.Logger = o.log
	base.Clock = o.clock
	if base.Metrics, err = metrics.New(o.reg, o.clock); err != nil {
		return nil, nil, fmt.Errorf("server: metrics: %w", err)
	}
	if ttl := o.cfg.Server.CacheTTL; ttl > 0 {
		store := o.cache
		if store == nil {
			store = respcache.NewMemory(defaultCacheBytes, o.clock)
		}
		base.Cache = respcache.New(store, respcache.Options{TTL: ttl, Clock: o.clock, OnError: func(err error) {
			o.log.Warn("response cache unavailable", "err", llm.Redact(err.Error()))
		}})
	}
	// The budgets again, on the server's clock and budget store (shared
	// by the replicas when it is Redis's): each key's own daily budget,
	// and keel.yaml's limits.daily_budget_usd over all of them.
	base.Budgets = o.budgets
	if base.Budgets == nil {
		bo := cost.BudgetOptions{Daily: true, Clock: o.clock, Store: o.budgetStore}
		base.Budgets = []cost.BudgetSource{cost.RunBudgets(), cost.PerKey(o.budgetOf, bo)}
		if d := o.cfg.Limits.DailyBudgetUSD; d > 0 {
			base.Budgets = append(base.Budgets, cost.Always(cost.NewBudget("daily", cost.Dollars(d), bo)))
		}
	}
	tp, shutdown, err := tracing.FromEnv(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("server: tracing: %w", err)
	}
	if tp != nil {
		base.Tracer = tp
	}
	return &models{res: o.res, base: base, maxOutput: o.cfg.Limits.MaxOutputTokens, ledger: o.ledger, clock: o.clock,
		built: map[string]*served{}}, shutdown, nil
}

// Open returns the model called name ("" for the default), built once
// per name.
func (m *models) Open(ctx context.Context, name string) (llm.Model, error) {
	if name == "" {
		d, err := m.res.Default()
		if err != nil {
			return nil, openError(name, err)
		}
		name = d
	}
	infoFrom(ctx).setModel(name)
	m.mu.RLock()
	s, ok := m.built[name]
	m.mu.RUnlock()
	if ok {
		return s, nil
	}
	s, err := m.build(name)
	if err != nil {
		return nil, openError(name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev, ok := m.built[name]; ok {
		return prev, nil
	}
	if len(m.built) < maxCachedModels {
		m.built[name] = s
	}
	return s, nil
}

func (m *models) build(name string) (*served, error) {
	primary, err := m.res.Open(name)
	if err != nil {
		return nil, err
	}
	opts := m.base
	if alias, ok := m.res.Alias(name); ok {
		for _, fb := range alias.Fallbacks {
			fm, err := m.res.Open(fb)
			if err != nil {
				return nil, fmt.Errorf("fallback %s of %s: %w", fb, name, err)
			}
			opts.Fallbacks = append(opts.Fallbacks, fm)
		}
	}
	return &served{Model: middleware.Stack(opts)(primary), models: m}, nil
}

// openError maps a resolver failure to what front ends branch on: an
// unknown name is backend.ErrUnknownModel (their 404); a provider the
// server cannot reach (no key configured) is the server's fault, and
// says so without naming where keys come from.
func openError(name string, err error) error {
	switch {
	case errors.Is(err, provider.ErrUnknownModel), errors.Is(err, provider.ErrUnknownProvider):
		return fmt.Errorf("%w: %q", backend.ErrUnknownModel, name)
	case errors.Is(err, provider.ErrNoKey), errors.Is(err, provider.ErrNoProvider), errors.Is(err, provider.ErrNoDefault):
		no := false
		return &llm.Error{Kind: llm.KindServer, Status: http.StatusServiceUnavailable, ShouldRetry: &no,
			Message: fmt.Sprintf("model %q is not available on this server: %v", name, errors.Unwrap(err)), Err: err}
	}
	return err
}

// List returns the aliases and the providers' default models.
func (m *models) List(ctx context.Context) []backend.ModelInfo {
	entries := m.res.Models()
	out := make([]backend.ModelInfo, 0, len(entries))
	for _, e := range entries {
		if e.Model == "" || (e.NeedsKey && !e.HasKey) {
			continue
		}
		id := e.Name()
		out = append(out, backend.ModelInfo{ID: id, Provider: e.Provider, Target: e.Provider + "/" + e.Model, Default: e.Default})
	}
	return out
}

// served is a stacked model that attributes each call to the caller in
// its context and records it in the usage ledger.
type served struct {
	llm.Model
	models *models
}

// prepare tags the request with the caller's key and applies the
// server's output cap, on a copy: requests are never modified.
func (s *served) prepare(ctx context.Context, req *llm.Request) *llm.Request {
	caller := backend.CallerFrom(ctx)
	capOut := s.models.maxOutput > 0 && req.MaxTokens == 0
	if caller.KeyID == "" && !capOut {
		return req
	}
	req = req.Clone()
	if caller.KeyID != "" {
		tags := make(map[string]string, len(req.Tags)+1)
		for k, v := range req.Tags {
			tags[k] = v
		}
		tags[callinfo.TagKey] = caller.KeyID
		req.Tags = tags
	}
	if capOut {
		req.MaxTokens = s.models.maxOutput
	}
	return req
}

func (s *served) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	start := s.models.clock.Now()
	resp, err := s.Model.Generate(ctx, s.prepare(ctx, req))
	s.record(ctx, start, resp, err)
	return resp, withStatus(err)
}

// withStatus gives a budget refusal its HTTP status, 402, which the
// front ends answer with: the budget is the server's, so the server says
// how it is refused.
func withStatus(err error) error {
	var le *llm.Error
	if err == nil || !errors.As(err, &le) || le.Kind != llm.KindBudgetExceeded || le.Status != 0 {
		return err
	}
	cp := *le
	cp.Status = http.StatusPaymentRequired
	return &cp
}

func (s *served) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		start := s.models.clock.Now()
		var resp *llm.Response
		var failed error
		stopped := false
		for ev, err := range s.Model.Stream(ctx, s.prepare(ctx, req)) {
			if err != nil {
				failed, err = err, withStatus(err)
			} else if ev.Kind == llm.EventDone {
				resp = ev.Response
			}
			if !yield(ev, err) {
				stopped = true
				break
			}
		}
		if stopped && resp == nil && failed == nil {
			failed = context.Canceled // the client left mid-stream
		}
		s.record(ctx, start, resp, failed)
	}
}

// record queues the call for the usage ledger.
func (s *served) record(ctx context.Context, start time.Time, resp *llm.Response, err error) {
	rec := state.UsageRecord{Time: start.UTC(), KeyID: backend.CallerFrom(ctx).KeyID, Model: s.Name()}
	if resp != nil {
		if resp.Model != "" {
			rec.Model = resp.Model
		}
		rec.Usage = resp.Usage
		rec.Cost = cost.Dollars(resp.Cost)
		rec.LatencyMS = resp.Latency.Milliseconds()
	}
	if err != nil {
		rec.ErrorKind = string(llm.KindOf(err))
		if rec.ErrorKind == "" {
			rec.ErrorKind = string(llm.KindServer)
		}
	}
	if rec.LatencyMS == 0 {
		rec.LatencyMS = s.models.clock.Since(start).Milliseconds()
	}
	s.models.ledger.add(rec)
}
