// Package callinfo carries what the middleware learn about one model call
// (attempts, the model that served, cache hits, cost, rate-limit waits,
// guard flags) from the middleware that find it out to the ones that report
// it, through the call's context.
//
// llm.Response has no room for these facts yet, so the outermost reporting
// middleware (logging, metrics, tracing) or the caller puts an *Info in the
// context with Ensure, the inner ones (retry, fallback, respcache, cost,
// ratelimit, guard) update it, and the reporters read it when the call ends:
//
//	ctx, info := callinfo.Ensure(ctx)
//	resp, err := model.Generate(ctx, req)
//	fmt.Println(info.Record().Attempts)
//
// One Info describes one call: use a fresh one (a fresh Ensure on a context
// without one) for each.
package callinfo

import (
	"context"
	"iter"
	"sync"
	"time"

	"github.com/keelai/keel/llm"
)

// Tag names that the middleware read from llm.Request.Tags.
const (
	// TagPrompt and TagPromptVersion name the prompt template that built the
	// request; logs show them as name@version.
	TagPrompt        = "prompt"
	TagPromptVersion = "prompt_version"
	// TagTask is the task label routing chooses a model by (classify,
	// extract, summarize, reason, code_review, research, ...).
	TagTask = "task"
	// TagKey is the name of the API key the call is made for (the server
	// sets it); per-key budgets and the meter group by it.
	TagKey = "key"
	// TagCache asks the response cache to cache ("on") or not ("off") a
	// request regardless of its temperature.
	TagCache = "cache"
	// TagRepeat is the repeat index of an evaluation run; the response cache
	// keys on it so that repeats are real repeats.
	TagRepeat = "repeat"
	// TagBatch marks a call made through a provider's batch API ("true"),
	// which is priced at the batch discount.
	TagBatch = "batch"
)

// Record is a snapshot of what is known about a call.
type Record struct {
	// Attempts counts the requests sent upstream, over every model tried.
	Attempts int
	// Model is the `provider/model` name of the model that served the call.
	Model string
	// Fallbacks counts the models given up on before the one that served
	// (or before the call failed).
	Fallbacks int
	// CacheHit is true when the response came from the response cache.
	CacheHit bool
	// CostNanoUSD is the call's cost in billionths of a US dollar, 0 for a
	// cache hit or a model without a price.
	CostNanoUSD int64
	// Priced is true when CostNanoUSD was computed from a known price.
	Priced bool
	// RateLimitWait is the time spent waiting for the client-side limiter.
	RateLimitWait time.Duration
	// Flags are the guard rules the request's untrusted parts matched.
	Flags []string
}

// Info is the mutable record of one call. Its methods are safe for
// concurrent use and do nothing on a nil *Info, so middleware can call
// From(ctx).Update(...) without checking.
type Info struct {
	mu sync.Mutex
	r  Record
}

type ctxKey struct{}

// From returns the Info in ctx, or nil.
func From(ctx context.Context) *Info {
	i, _ := ctx.Value(ctxKey{}).(*Info)
	return i
}

// Ensure returns ctx and its Info, adding a new one when ctx has none.
func Ensure(ctx context.Context) (context.Context, *Info) {
	if i := From(ctx); i != nil {
		return ctx, i
	}
	i := new(Info)
	return context.WithValue(ctx, ctxKey{}, i), i
}

// Update applies f to the record under the Info's lock.
func (i *Info) Update(f func(*Record)) {
	if i == nil {
		return
	}
	i.mu.Lock()
	f(&i.r)
	i.mu.Unlock()
}

// Record returns a copy of the record.
func (i *Info) Record() Record {
	if i == nil {
		return Record{}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	r := i.r
	r.Flags = append([]string(nil), i.r.Flags...)
	return r
}

// AddAttempt counts one request sent upstream.
func (i *Info) AddAttempt() { i.Update(func(r *Record) { r.Attempts++ }) }

// Stamp returns the middleware that gives each call a fresh Info (unless
// the caller's context has one) and, when the call ends, writes what the
// inner middleware recorded onto the response: Attempts, CacheHit and Cost.
// middleware.Stack puts it outermost, so callers read those facts on the
// response itself.
func Stamp() llm.Middleware {
	return func(next llm.Model) llm.Model {
		return llm.Funcs{
			Next: next,
			GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
				ctx, info := Ensure(ctx)
				resp, err := next.Generate(ctx, req)
				if err != nil {
					return nil, err
				}
				return stamp(resp, info.Record()), nil
			},
			StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
				return func(yield func(llm.Event, error) bool) {
					ctx, info := Ensure(ctx)
					for ev, err := range next.Stream(ctx, req) {
						if err == nil && ev.Kind == llm.EventDone && ev.Response != nil {
							ev.Response = stamp(ev.Response, info.Record())
						}
						if !yield(ev, err) {
							return
						}
					}
				}
			},
		}
	}
}

// stamp returns a copy of resp carrying r's facts: the response may be
// shared (a cache entry, a fake's script), so it is not changed in place.
func stamp(resp *llm.Response, r Record) *llm.Response {
	c := *resp
	c.Attempts = r.Attempts
	c.CacheHit = r.CacheHit
	c.Cost = float64(r.CostNanoUSD) / 1e9
	return &c
}
