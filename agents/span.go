package agents

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope name of the spans this package makes.
const Scope = "github.com/keelai/keel/agents"

// startSpan starts a span with tp, or, when tp is nil, with the provider of
// the span already in ctx: a tracer given to an orchestrator then reaches
// the agents it runs, and with no tracer anywhere the span is a no-op.
func startSpan(ctx context.Context, tp trace.TracerProvider, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if tp == nil {
		tp = trace.SpanFromContext(ctx).TracerProvider()
	}
	return tp.Tracer(Scope).Start(ctx, name, trace.WithAttributes(attrs...))
}

// endSpan records err (if any) and ends span.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
