// Package fallback sends a call to the next model of an ordered list when
// one fails in a way another model may not, and keeps a circuit breaker per
// model so that a dead provider is skipped without a request.
//
//	primary = fallback.New(fallback.Options{}, secondary, tertiary)(primary)
//
// A model is given up on when its error is retryable (its retries, if any,
// are exhausted by then), when it is overloaded, when its breaker is open,
// and, with Options.ContextLength, when the prompt does not fit its window.
// Other errors (invalid_request, auth, ...) are returned at once: another
// model would refuse the same request. A stream falls back only while
// nothing has reached the caller.
package fallback

import (
	"context"
	"iter"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
)

// Options configures New. The zero value is usable.
type Options struct {
	// ContextLength moves on when a model says the prompt is too long for
	// its window; list larger-window models after smaller ones to use it.
	ContextLength bool
	// MoveOn, when set, replaces the rule deciding whether an error moves
	// the call to the next model.
	MoveOn func(error) bool
}

func (o Options) moveOn(err error) bool {
	if o.MoveOn != nil {
		return o.MoveOn(err)
	}
	switch llm.KindOf(err) {
	case llm.KindCanceled:
		return false
	case llm.KindOverloaded:
		return true
	case llm.KindContextLength:
		return o.ContextLength
	}
	return llm.IsRetryable(err)
}

// New returns a middleware that tries the wrapped model first and then
// fallbacks in order. The result keeps the wrapped model's name; the model
// that served is the response's Model and callinfo's Record.Model.
func New(opts Options, fallbacks ...llm.Model) llm.Middleware {
	return func(primary llm.Model) llm.Model {
		if len(fallbacks) == 0 {
			return primary
		}
		f := &chain{o: opts, models: append([]llm.Model{primary}, fallbacks...)}
		return llm.Funcs{Next: primary, GenerateFunc: f.generate, StreamFunc: f.stream}
	}
}

type chain struct {
	o      Options
	models []llm.Model
}

func (c *chain) generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	info := callinfo.From(ctx)
	var err error
	for i, m := range c.models {
		if i > 0 {
			info.Update(func(r *callinfo.Record) { r.Fallbacks++ })
		}
		var resp *llm.Response
		resp, err = m.Generate(ctx, req)
		if err == nil {
			served(info, resp, m)
			return resp, nil
		}
		if ctx.Err() != nil || !c.o.moveOn(err) {
			return nil, err
		}
	}
	return nil, err
}

func (c *chain) stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		info := callinfo.From(ctx)
		var failed error
		for i, m := range c.models {
			if i > 0 {
				info.Update(func(r *callinfo.Record) { r.Fallbacks++ })
			}
			started := false
			failed = nil
			for ev, err := range m.Stream(ctx, req) {
				if err != nil {
					if started {
						yield(llm.Event{}, err)
						return
					}
					failed = err
					break
				}
				started = true
				if ev.Kind == llm.EventDone {
					served(info, ev.Response, m)
				}
				if !yield(ev, nil) {
					return
				}
			}
			if failed == nil {
				return
			}
			if ctx.Err() != nil || !c.o.moveOn(failed) {
				break
			}
		}
		yield(llm.Event{}, failed)
	}
}

func served(info *callinfo.Info, resp *llm.Response, m llm.Model) {
	name := m.Name()
	if resp != nil && resp.Model != "" {
		name = resp.Model
	}
	info.Update(func(r *callinfo.Record) { r.Model = name })
}
