package cost

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"time"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
)

// TrackOptions configures Track.
type TrackOptions struct {
	// Prices prices the calls; nil means DefaultTable.
	Prices *Table
	// Meter, when set, aggregates every call.
	Meter *Meter
	// Budgets pick the budgets each call is charged to.
	Budgets []BudgetSource
	// Estimate returns a request's expected input and output tokens for
	// the reservation; nil means EstimateTokens and MaxTokens (1024 when
	// unset).
	Estimate func(*llm.Request) (input, output int)
	// Logger receives the budget commits that failed (a shared store
	// unreachable after the call); nil means slog.Default().
	Logger *slog.Logger
}

// commitTimeout bounds a budget commit made after the caller's context
// has ended: the call's cost must still be charged.
const commitTimeout = 5 * time.Second

// Track returns the cost middleware: it reserves each call's estimated
// cost on its budgets before sending it (refusing it, with nothing sent,
// when a budget is spent), then prices the real usage of the model that
// served, reconciles the budgets, feeds the meter and records the cost in
// callinfo.
//
// A streamed and a generated call of the same request are charged the same:
// both are priced from the final response's usage. A stream cut short
// (by an error or by the consumer) is charged the usage it reported so far.
// Place Track outside retry and fallback: a call reserves once, however
// many attempts it takes.
func Track(opts TrackOptions) llm.Middleware {
	if opts.Prices == nil {
		opts.Prices = DefaultTable()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Estimate == nil {
		opts.Estimate = func(req *llm.Request) (int, int) {
			out := req.MaxTokens
			if out <= 0 {
				out = 1024
			}
			return EstimateTokens(req), out
		}
	}
	return func(next llm.Model) llm.Model {
		t := &tracker{o: opts, next: next}
		return llm.Funcs{Next: next, GenerateFunc: t.generate, StreamFunc: t.stream}
	}
}

type tracker struct {
	o    TrackOptions
	next llm.Model
}

// reserve holds the call's estimate on each of its budgets, all or none.
func (t *tracker) reserve(ctx context.Context, req *llm.Request) ([]*Reservation, error) {
	var budgets []*Budget
	for _, src := range t.o.Budgets {
		budgets = append(budgets, src(ctx, req)...)
	}
	if len(budgets) == 0 {
		return nil, nil
	}
	in, out := t.o.Estimate(req)
	est, _ := t.o.Prices.Cost(t.next.Name(), llm.Usage{InputTokens: in, OutputTokens: out}, req.Tags[callinfo.TagBatch] == "true")
	held := make([]*Reservation, 0, len(budgets))
	for _, b := range budgets {
		r, err := b.Reserve(ctx, est)
		if err != nil {
			t.commit(ctx, held, 0)
			provider, _, _ := llm.SplitName(t.next.Name())
			f := false
			kind := llm.KindBudgetExceeded
			if !IsBudgetExceeded(err) {
				// The store could not say (Redis down): refuse rather
				// than spend without accounting.
				kind = llm.KindServer
			}
			return nil, &llm.Error{Kind: kind, Provider: provider, Message: err.Error(), ShouldRetry: &f, Err: err}
		}
		held = append(held, r)
	}
	return held, nil
}

// commit charges actual to every reservation, even when ctx has ended
// (the caller went away mid-stream): the call's cost was incurred.
func (t *tracker) commit(ctx context.Context, held []*Reservation, actual USD) {
	if len(held) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	for _, r := range held {
		if err := r.Commit(ctx, actual); err != nil {
			t.o.Logger.LogAttrs(ctx, slog.LevelError, "budget commit failed; the hold lapses with its lease",
				slog.String("budget", r.b.Name()), slog.String("cost", actual.String()), slog.String("error", err.Error()))
		}
	}
}

// settle prices the usage, commits the reservations and records the call.
func (t *tracker) settle(ctx context.Context, req *llm.Request, held []*Reservation, model string, u llm.Usage) {
	if model == "" {
		model = t.next.Name()
	}
	c, priced := t.o.Prices.Cost(model, u, req.Tags[callinfo.TagBatch] == "true")
	t.commit(ctx, held, c)
	if t.o.Meter != nil {
		t.o.Meter.Record(model, req.Tags, u, c, priced)
	}
	callinfo.From(ctx).Update(func(r *callinfo.Record) {
		r.CostNanoUSD += int64(c)
		r.Priced = r.Priced || priced
	})
}

func (t *tracker) generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	held, err := t.reserve(ctx, req)
	if err != nil {
		return nil, err
	}
	resp, err := t.next.Generate(ctx, req)
	if err != nil {
		t.commit(ctx, held, 0)
		return nil, err
	}
	t.settle(ctx, req, held, resp.Model, resp.Usage)
	return resp, nil
}

func (t *tracker) stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		held, err := t.reserve(ctx, req)
		if err != nil {
			yield(llm.Event{}, err)
			return
		}
		var usage llm.Usage
		var model string
		settled := false
		defer func() {
			if !settled {
				t.settle(ctx, req, held, model, usage)
			}
		}()
		for ev, err := range t.next.Stream(ctx, req) {
			switch {
			case err != nil:
			case ev.Kind == llm.EventUsage && ev.Usage != nil:
				usage = *ev.Usage
			case ev.Kind == llm.EventDone && ev.Response != nil:
				// The final response's usage is the one Generate would
				// have reported; settle before the caller sees the end so
				// that its cost is known to outer middleware.
				settled = true
				t.settle(ctx, req, held, ev.Response.Model, ev.Response.Usage)
			}
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// IsBudgetExceeded reports whether err is a refusal by a budget.
func IsBudgetExceeded(err error) bool { return errors.Is(err, ErrBudgetExceeded) }
