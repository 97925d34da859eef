package agents

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
)

// Task is one branch of a fan-out.
type Task[T any] func(ctx context.Context) (T, error)

// FanOut configures a parallel fan-out (All, Settle, Map).
type FanOut struct {
	// Name names the fan-out's span ("fanout NAME").
	Name string
	// Limit bounds how many branches run at once; zero or less runs them
	// all at once.
	Limit int
	// Tracer makes the spans; nil uses the provider of the span in the
	// context (a no-op when there is none).
	Tracer trace.TracerProvider
}

// BranchError is the error of one branch, with its index in the input.
type BranchError struct {
	Index int
	Err   error
}

func (e *BranchError) Error() string { return fmt.Sprintf("branch %d: %v", e.Index, e.Err) }

// Unwrap returns the cause.
func (e *BranchError) Unwrap() error { return e.Err }

// Branch is the outcome of one branch of Settle: its value, or its error
// (a *BranchError).
type Branch[T any] struct {
	Value T
	Err   error
}

// All runs the tasks concurrently, at most f.Limit at once, and returns
// their values in input order. It is fail-fast: the first failure cancels
// the context of every other branch, branches not yet started are not
// started, and All returns that failure as a *BranchError once every
// started branch has returned. No goroutine outlives the call.
func All[T any](ctx context.Context, f FanOut, tasks ...Task[T]) (_ []T, err error) {
	parent, span := f.start(ctx, len(tasks), "fail_fast")
	defer func() { endSpan(span, err) }()
	g, ctx := errgroup.WithContext(parent)
	if f.Limit > 0 {
		g.SetLimit(f.Limit)
	}
	out := make([]T, len(tasks))
	for i, t := range tasks {
		if ctx.Err() != nil {
			break // a branch failed (or the caller gave up): start no more
		}
		g.Go(func() error {
			if ctx.Err() != nil {
				return nil // cancelled while waiting for a slot; the cause is reported already
			}
			v, err := runBranch(ctx, f, i, t)
			if err != nil {
				return &BranchError{Index: i, Err: err}
			}
			out[i] = v
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// The caller's context may have ended with no branch failing (Wait
	// cancels ctx itself, so ask the parent).
	if err := parent.Err(); err != nil {
		return nil, context.Cause(parent)
	}
	return out, nil
}

// Settle runs every task to completion, at most f.Limit at once, and
// returns each one's value or error (a *BranchError) in input order: a
// failing branch does not stop its siblings (best-effort). No goroutine
// outlives the call.
func Settle[T any](ctx context.Context, f FanOut, tasks ...Task[T]) []Branch[T] {
	ctx, span := f.start(ctx, len(tasks), "best_effort")
	defer span.End()
	var g errgroup.Group
	if f.Limit > 0 {
		g.SetLimit(f.Limit)
	}
	out := make([]Branch[T], len(tasks))
	for i, t := range tasks {
		g.Go(func() error {
			v, err := runBranch(ctx, f, i, t)
			if err != nil {
				out[i].Err = &BranchError{Index: i, Err: err}
			} else {
				out[i].Value = v
			}
			return nil
		})
	}
	_ = g.Wait() // branches report through out; none returns an error
	failed := 0
	for _, b := range out {
		if b.Err != nil {
			failed++
		}
	}
	span.SetAttributes(attribute.Int("keel.fanout.failed", failed))
	return out
}

// Map returns a stage that applies s to every input concurrently (as All:
// fail-fast, outputs in input order), so a fan-out can sit in a pipeline.
func Map[In, Out any](f FanOut, s Stage[In, Out]) Stage[[]In, []Out] {
	return func(ctx context.Context, ins []In) ([]Out, error) {
		tasks := make([]Task[Out], len(ins))
		for i, in := range ins {
			tasks[i] = func(ctx context.Context) (Out, error) { return s(ctx, in) }
		}
		return All(ctx, f, tasks...)
	}
}

func (f FanOut) start(ctx context.Context, n int, mode string) (context.Context, trace.Span) {
	name := "fanout"
	if f.Name != "" {
		name += " " + f.Name
	}
	return startSpan(ctx, f.Tracer, name,
		attribute.Int("keel.fanout.branches", n),
		attribute.Int("keel.fanout.limit", f.Limit),
		attribute.String("keel.fanout.mode", mode))
}

func runBranch[T any](ctx context.Context, f FanOut, i int, t Task[T]) (v T, err error) {
	ctx, span := startSpan(ctx, f.Tracer, fmt.Sprintf("branch %d", i), attribute.Int("keel.fanout.index", i))
	defer func() { endSpan(span, err) }()
	return t(ctx)
}
