package main

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware"
	"github.com/keelai/keel/provider"
)

// reliable opens the model called name and wraps it in the default
// middleware stack as keel.yaml configures it (middleware.FromConfig):
// retries, circuit breakers, rate limits, the guard, cost tracking at the
// configured prices and budgets, the call timeout, the call log and
// capture files of `logging:`, and the fallbacks of its alias, tried in
// order.
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
	if a.cfg != nil {
		if d := a.cfg.Limits.RunBudgetUSD; d > 0 {
			// One budget for the whole command, whichever models it opens.
			if a.runBudget == nil {
				a.runBudget = cost.NewBudget("run", cost.Dollars(d), cost.BudgetOptions{})
			}
			opts.Budgets = append(opts.Budgets, cost.Always(a.runBudget))
		}
		if f := a.cfg.Logging.File; f != "" {
			w, err := a.appendFile(f)
			if err != nil {
				return nil, fmt.Errorf("logging.file: %w", err)
			}
			opts.Logger = slog.New(slog.NewJSONHandler(w, nil))
		}
		if f := a.cfg.Logging.Capture; f != "" {
			w, err := a.appendFile(f)
			if err != nil {
				return nil, fmt.Errorf("logging.capture: %w", err)
			}
			opts.Logging.Capture = w
		}
	}
	return middleware.Stack(opts)(m), nil
}

// routedModel opens the model for req: name when given, else the model
// keel.yaml's routing table chooses for the task label and the request's
// size. The label is tagged on the request either way, for logs and
// metrics.
func (a *app) routedModel(name, task string, req *llm.Request) (llm.Model, error) {
	if task != "" {
		// Added to the tags a prompt file put there (its name@version).
		req.Tags = maps.Clone(req.Tags)
		if req.Tags == nil {
			req.Tags = map[string]string{}
		}
		req.Tags["task"] = task
	}
	if name != "" || task == "" {
		return a.model(name)
	}
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	rt := cfg.Routing
	if len(rt.Tiers) == 0 {
		return nil, usagef("run", "--task %s needs a routing: section with tiers in keel.yaml (or give --model)", task)
	}
	router := cost.Router{Tiers: rt.Tiers, Tasks: rt.Tasks, LongInput: rt.LongInputTokens, LongModel: rt.LongModel}
	return a.model(router.Choose(req))
}

// appendFile opens (once per command) a file to append to, creating it and
// its folder; the app closes it when the command ends.
func (a *app) appendFile(path string) (io.Writer, error) {
	if f, ok := a.files[path]; ok {
		return f, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if a.files == nil {
		a.files = map[string]*os.File{}
	}
	a.files[path] = f
	return f, nil
}

// closeFiles closes what appendFile opened.
func (a *app) closeFiles() error {
	var first error
	for _, f := range a.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	a.files = nil
	return first
}
