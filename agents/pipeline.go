package agents

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Stage is one typed step of a pipeline: an agent call, a structured
// extraction, a fan-out or plain Go code. Then chains stages so that the
// compiler checks each output type against the next input type.
type Stage[In, Out any] func(ctx context.Context, in In) (Out, error)

// Then returns the stage that runs first and feeds its output to second.
// A failure of first stops the chain; second is not run once ctx is done.
// Chain longer pipelines by nesting: Then(Then(a, b), c).
func Then[A, B, C any](first Stage[A, B], second Stage[B, C]) Stage[A, C] {
	return func(ctx context.Context, in A) (C, error) {
		var zero C
		mid, err := first(ctx, in)
		if err != nil {
			return zero, err
		}
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		return second(ctx, mid)
	}
}

// StageError is returned by a Named stage that fails; it names the stage.
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string { return fmt.Sprintf("stage %q: %v", e.Stage, e.Err) }

// Unwrap returns the cause.
func (e *StageError) Unwrap() error { return e.Err }

// Named gives stage s a name: it runs in its own span ("stage NAME", made
// with tp or, when tp is nil, the provider of the span in the context), and
// its errors are wrapped in a *StageError naming it, so a failure deep in a
// pipeline says where it happened.
func Named[In, Out any](name string, tp trace.TracerProvider, s Stage[In, Out]) Stage[In, Out] {
	return func(ctx context.Context, in In) (out Out, err error) {
		ctx, span := startSpan(ctx, tp, "stage "+name, attribute.String("keel.stage", name))
		defer func() { endSpan(span, err) }()
		out, err = s(ctx, in)
		if err != nil {
			var zero Out
			return zero, &StageError{Stage: name, Err: err}
		}
		return out, nil
	}
}
