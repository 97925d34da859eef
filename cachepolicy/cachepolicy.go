// Package cachepolicy places Anthropic prompt-cache breakpoints
// (cache_control) on requests automatically, as an llm.Middleware:
//
//	m = llm.Chain(claude, cachepolicy.Middleware(cachepolicy.Options{TTL: llm.CacheTTL1h}))
//
// It marks, in order of value, the end of the tool definitions, the end of
// the system prompt, the end of the previous user turn (which the previous
// call wrote to the cache, so this call reads it) and the end of the
// conversation (written now, read by the next turn): at most four, the
// API's limit. A breakpoint whose prefix is shorter than the model's
// minimum cacheable length is left out, since the API would ignore it.
// Requests that already carry a breakpoint are the caller's plan and pass
// unchanged; models of other providers pass unchanged too.
package cachepolicy

import (
	"context"
	"iter"
	"strings"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/window"
)

// MaxBreakpoints is the most cache_control marks Anthropic accepts.
const MaxBreakpoints = 4

// Options configure Middleware.
type Options struct {
	// TTL is the cache lifetime of every breakpoint: "" (the 5-minute
	// default) or llm.CacheTTL1h.
	TTL llm.CacheTTL
	// MinTokens overrides the model's minimum cacheable prefix length.
	MinTokens int
	// Counter estimates prefix lengths; nil means the offline estimate
	// (window.Estimator), which needs no round trip.
	Counter window.Counter
}

// MinTokensFor returns the shortest prefix, in tokens, that model (a
// `provider/model` name or a bare Claude model) can cache, from Anthropic's
// prompt-caching guide: 4096 for Opus 4.5 and Haiku 4.5, 2048 for older
// Haiku models, 1024 for the rest.
func MinTokensFor(model string) int {
	if _, m, err := llm.SplitName(model); err == nil {
		model = m
	}
	switch {
	case strings.HasPrefix(model, "claude-opus-4-5"), strings.HasPrefix(model, "claude-haiku-4-5"):
		return 4096
	case strings.Contains(model, "haiku"):
		return 2048
	}
	return 1024
}

// Middleware plans breakpoints on every request to an Anthropic model.
func Middleware(o Options) llm.Middleware {
	return func(next llm.Model) llm.Model {
		if !strings.HasPrefix(next.Name(), "anthropic/") {
			return next
		}
		plan := func(ctx context.Context, req *llm.Request) *llm.Request {
			min := o.MinTokens
			if min == 0 {
				min = MinTokensFor(next.Name())
			}
			c := o.Counter
			if c == nil {
				enc, err := window.GetEncoding(window.O200K)
				if err != nil {
					return req
				}
				c = window.Estimator{Scale: 1.25, Encoding: enc}
			}
			return Plan(ctx, req, min, o.TTL, c)
		}
		return llm.Funcs{
			Next: next,
			GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
				return next.Generate(ctx, plan(ctx, req))
			},
			StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
				return next.Stream(ctx, plan(ctx, req))
			},
		}
	}
}

// Plan returns req with breakpoints placed (see the package comment), or
// req itself when it already has one or none qualifies. Prefix lengths are
// counted with c; a counting error leaves the request unplanned.
func Plan(ctx context.Context, req *llm.Request, minTokens int, ttl llm.CacheTTL, c window.Counter) *llm.Request {
	if hasBreakpoint(req) {
		return req
	}
	// prefix counts the request cut after the tools, the system prompt, or
	// the first n messages, the order in which Anthropic caches.
	prefix := func(tools, system bool, n int) int {
		p := &llm.Request{Messages: req.Messages[:n]}
		if tools {
			p.Tools = req.Tools
		}
		if system {
			p.System = req.System
		}
		k, err := c.CountTokens(ctx, p)
		if err != nil {
			return -1
		}
		return k
	}
	cc := &llm.CacheControl{TTL: ttl}
	if ttl == llm.CacheTTL5m {
		cc = &llm.CacheControl{}
	}
	out := req.Clone()
	placed := 0
	if len(req.Tools) > 0 && prefix(true, false, 0) >= minTokens {
		out.Tools[len(out.Tools)-1].Cache = cc
		placed++
	}
	if len(req.System) > 0 && prefix(true, true, 0) >= minTokens {
		out.System[len(out.System)-1].Cache = cc
		placed++
	}
	// The conversation: the end of the previous user turn (read), then the
	// end of the whole conversation (written for the next turn).
	last := len(req.Messages) - 1
	prev := -1
	for i := last - 1; i >= 0; i-- {
		if req.Messages[i].Role == llm.RoleUser {
			prev = i
			break
		}
	}
	for _, i := range []int{prev, last} {
		if i < 0 || placed == MaxBreakpoints || len(out.Messages[i].Parts) == 0 {
			continue
		}
		if prefix(true, true, i+1) < minTokens {
			continue
		}
		parts := out.Messages[i].Parts
		if marked, ok := llm.WithCache(parts[len(parts)-1], cc); ok {
			parts[len(parts)-1] = marked
			placed++
		}
	}
	if placed == 0 {
		return req
	}
	return out
}

func hasBreakpoint(req *llm.Request) bool {
	for _, t := range req.Tools {
		if t.Cache != nil {
			return true
		}
	}
	for _, s := range req.System {
		if s.Cache != nil {
			return true
		}
	}
	for _, m := range req.Messages {
		for _, p := range m.Parts {
			if llm.CacheOf(p) != nil {
				return true
			}
		}
	}
	return false
}
