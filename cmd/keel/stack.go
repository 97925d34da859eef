package main

import (
	"fmt"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware"
	"github.com/keelai/keel/middleware/retry"
	"github.com/keelai/keel/provider"
)

// reliable opens the model called name and wraps it in the default
// middleware stack: retries, circuit breakers, the guard, cost tracking at
// the configured prices, the call timeout of `limits:`, and the fallbacks
// of its alias in keel.yaml, tried in order.
func (a *app) reliable(r *provider.Resolver, name string) (llm.Model, error) {
	m, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	var fallbacks []llm.Model
	if alias, ok := r.Alias(name); ok {
		for _, fb := range alias.Fallbacks {
			fm, err := r.Open(fb)
			if err != nil {
				return nil, fmt.Errorf("fallback of %s: %w", name, err)
			}
			fallbacks = append(fallbacks, fm)
		}
	}
	// One stack per opened model: its breakers and limiters live as long
	// as the model, which in the CLI is the whole command (or a chat until
	// /model). The server, which serves many models at once, shares one.
	opts, err := stackOptions(a.cfg)
	if err != nil {
		return nil, err
	}
	opts.Fallbacks = fallbacks
	return middleware.Stack(opts)(m), nil
}

// stackOptions maps keel.yaml onto the middleware stack.
func stackOptions(cfg *config.Config) (middleware.StackOptions, error) {
	var opts middleware.StackOptions
	if cfg == nil {
		return opts, nil
	}
	opts.Timeout = cfg.Limits.RequestTimeout
	opts.Retry = retry.Options{MaxAttempts: cfg.Limits.MaxAttempts}
	prices, err := pricesFor(cfg)
	if err != nil {
		return opts, err
	}
	opts.Prices = prices
	return opts, nil
}

// pricesFor returns the default price table with the `price:` overrides of
// the config's aliases. An override replaces the five token classes it
// names (a class left out is free, as the config documents) and keeps the
// default's batch discount and long-context tier.
func pricesFor(cfg *config.Config) (*cost.Table, error) {
	table := cost.DefaultTable()
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
