package main

import (
	"fmt"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware"
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
	opts, err := middleware.FromConfig(a.cfg)
	if err != nil {
		return nil, err
	}
	opts.Fallbacks = fallbacks
	return middleware.Stack(opts)(m), nil
}
