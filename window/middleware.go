package window

import (
	"context"
	"iter"
	"sync"

	"github.com/keelai/keel/llm"
)

// Options configure Middleware.
type Options struct {
	// Budget is the most input tokens a request may have. 0 means the
	// model's context window (LimitFor) less the output it may produce
	// (the request's MaxTokens, else min(the model's output limit, 8192));
	// a model the table does not know then passes unfitted.
	Budget int
	// Pin keeps the first Pin messages (the task statement, say) in every
	// window.
	Pin int
	// Counter counts tokens; nil means CounterFor the wrapped model.
	Counter Counter
	// Compactor, when set, replaces dropped turns by a running summary at
	// the start of the window. Its summary's tokens (Compactor.maxTokens)
	// are reserved from the budget.
	Compactor *Compactor
}

// Middleware fits every request into the budget before the wrapped model
// sees it (see Fit), summarising what it drops when Options.Compactor is
// set.
func Middleware(o Options) llm.Middleware {
	return func(next llm.Model) llm.Model {
		f := &fitter{o: o, next: next, counter: sync.OnceValues(func() (Counter, error) {
			if o.Counter != nil {
				return o.Counter, nil
			}
			return CounterFor(next)
		})}
		return llm.Funcs{
			Next: next,
			GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
				req, err := f.fit(ctx, req)
				if err != nil {
					return nil, err
				}
				return next.Generate(ctx, req)
			},
			StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
				return func(yield func(llm.Event, error) bool) {
					req, err := f.fit(ctx, req)
					if err != nil {
						yield(llm.Event{}, err)
						return
					}
					for ev, err := range next.Stream(ctx, req) {
						if !yield(ev, err) {
							return
						}
					}
				}
			},
		}
	}
}

type fitter struct {
	o    Options
	next llm.Model
	// counter is resolved once, so the caches of CounterFor's counters
	// (message counts, provider counts) last as long as the middleware.
	counter func() (Counter, error)
}

func (f *fitter) fit(ctx context.Context, req *llm.Request) (*llm.Request, error) {
	budget := f.o.Budget
	if budget == 0 {
		lim, ok := LimitFor(f.next.Name())
		if !ok {
			return req, nil
		}
		out := req.MaxTokens
		if out == 0 {
			out = min(lim.Output, 8192)
		}
		budget = lim.Context - out
	}
	c, err := f.counter()
	if err != nil {
		return nil, err
	}
	if f.o.Compactor == nil {
		fitted, _, err := Fit(ctx, c, req, budget, f.o.Pin)
		return fitted, err
	}
	if n, err := c.CountTokens(ctx, req); err == nil && n <= budget {
		return req, nil
	}
	fitted, dropped, err := Fit(ctx, c, req, budget-f.o.Compactor.maxTokens, f.o.Pin)
	if err != nil || dropped == 0 {
		return fitted, err
	}
	pinEnd, _ := boundaries(req.Messages, f.o.Pin)
	summary, err := f.o.Compactor.Summary(ctx, req.Messages[pinEnd:pinEnd+dropped])
	if err != nil {
		return nil, err
	}
	fitted.Messages[pinEnd] = withSummary(fitted.Messages[pinEnd], summary)
	return fitted, nil
}
