// Package tracing records an OpenTelemetry span per model call, with the
// attributes of the GenAI semantic conventions (gen_ai.operation.name,
// gen_ai.provider.name, gen_ai.request.*, gen_ai.response.*,
// gen_ai.usage.*), plus Keel's attempts, fallbacks, cache hit and cost.
//
//	tp, shutdown, err := tracing.FromEnv(ctx) // OTLP when OTEL_… is set
//	defer shutdown(ctx)
//	if tp != nil {
//		m = tracing.New(tp)(m)
//	}
//
// Without a configured exporter FromEnv returns a nil provider and the
// middleware is left out: tracing off costs nothing.
package tracing

import (
	"context"
	"iter"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
)

// Scope is the instrumentation scope name of Keel's spans.
const Scope = "github.com/keelai/keel/middleware/tracing"

// New returns the tracing middleware, making spans with tp's tracer.
func New(tp trace.TracerProvider) llm.Middleware {
	tracer := tp.Tracer(Scope)
	return func(next llm.Model) llm.Model {
		provider, model, _ := llm.SplitName(next.Name())
		start := func(ctx context.Context, req *llm.Request, stream bool) (context.Context, trace.Span) {
			ctx, span := tracer.Start(ctx, "chat "+model, trace.WithSpanKind(trace.SpanKindClient))
			if span.IsRecording() {
				span.SetAttributes(requestAttrs(provider, model, req, stream)...)
			}
			return ctx, span
		}
		return llm.Funcs{
			Next: next,
			GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
				ctx, info := callinfo.Ensure(ctx)
				ctx, span := start(ctx, req, false)
				defer span.End()
				resp, err := next.Generate(ctx, req)
				var u llm.Usage
				if resp != nil {
					u = resp.Usage
				}
				finish(span, info, resp, u, err)
				return resp, err
			},
			StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
				return func(yield func(llm.Event, error) bool) {
					ctx, info := callinfo.Ensure(ctx)
					ctx, span := start(ctx, req, true)
					defer span.End()
					var (
						resp  *llm.Response
						u     llm.Usage
						fail  error
						first = true
					)
					defer func() { finish(span, info, resp, u, fail) }()
					for ev, err := range next.Stream(ctx, req) {
						switch {
						case err != nil:
							fail = err
						case ev.Kind == llm.EventUsage && ev.Usage != nil:
							u = *ev.Usage
						case ev.Kind == llm.EventDone && ev.Response != nil:
							resp, u = ev.Response, ev.Response.Usage
						case first && (ev.Kind == llm.EventText || ev.Kind == llm.EventThinking || ev.Kind == llm.EventToolCallStart):
							first = false
							span.AddEvent("gen_ai.first_token")
						}
						if !yield(ev, err) || err != nil {
							return
						}
					}
				}
			},
		}
	}
}

// providerName maps Keel's provider names to the conventions' values.
func providerName(p string) string {
	switch p {
	case "gemini":
		return "gcp.gemini"
	}
	return p
}

func requestAttrs(provider, model string, req *llm.Request, stream bool) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		semconv.GenAIOperationNameChat,
		semconv.GenAIProviderNameKey.String(providerName(provider)),
		semconv.GenAIRequestModelKey.String(model),
		semconv.GenAIRequestStreamKey.Bool(stream),
	}
	if req.MaxTokens > 0 {
		attrs = append(attrs, semconv.GenAIRequestMaxTokensKey.Int(req.MaxTokens))
	}
	if req.Temperature != nil {
		attrs = append(attrs, semconv.GenAIRequestTemperatureKey.Float64(*req.Temperature))
	}
	if req.TopP != nil {
		attrs = append(attrs, semconv.GenAIRequestTopPKey.Float64(*req.TopP))
	}
	if len(req.StopSequences) > 0 {
		attrs = append(attrs, semconv.GenAIRequestStopSequencesKey.StringSlice(req.StopSequences))
	}
	if p := req.Tags[callinfo.TagPrompt]; p != "" {
		attrs = append(attrs, semconv.GenAIPromptNameKey.String(p))
	}
	if req.Output != nil {
		attrs = append(attrs, semconv.GenAIOutputTypeJSON)
	}
	return attrs
}

func finish(span trace.Span, info *callinfo.Info, resp *llm.Response, u llm.Usage, err error) {
	if !span.IsRecording() {
		return
	}
	rec := info.Record()
	// The conventions count cached tokens in gen_ai.usage.input_tokens and
	// break them out in the cache_* attributes; Keel's InputTokens excludes
	// them, hence PromptTokens.
	attrs := []attribute.KeyValue{
		semconv.GenAIUsageInputTokensKey.Int(u.PromptTokens()),
		semconv.GenAIUsageOutputTokensKey.Int(u.OutputTokens),
		semconv.GenAIUsageCacheReadInputTokensKey.Int(u.CacheReadTokens),
		semconv.GenAIUsageCacheCreationInputTokensKey.Int(u.CacheWriteTokens + u.CacheWrite1hTokens),
		attribute.Int("keel.attempts", rec.Attempts),
		attribute.Bool("keel.cache_hit", rec.CacheHit),
		attribute.Float64("keel.cost_usd", float64(rec.CostNanoUSD)/1e9),
	}
	if rec.Fallbacks > 0 {
		attrs = append(attrs, attribute.Int("keel.fallbacks", rec.Fallbacks))
	}
	if len(rec.Flags) > 0 {
		attrs = append(attrs, attribute.StringSlice("keel.guard_flags", rec.Flags))
	}
	if resp != nil {
		_, served, _ := llm.SplitName(resp.Model)
		if served == "" {
			served = resp.Model
		}
		attrs = append(attrs,
			semconv.GenAIResponseModelKey.String(served),
			semconv.GenAIResponseFinishReasonsKey.StringSlice([]string{string(resp.StopReason)}),
		)
		if resp.ID != "" {
			attrs = append(attrs, semconv.GenAIResponseIDKey.String(resp.ID))
		}
	}
	if err != nil {
		kind := string(llm.KindOf(err))
		if kind == "" {
			kind = "_OTHER"
		}
		attrs = append(attrs, semconv.ErrorTypeKey.String(kind))
		span.SetStatus(codes.Error, llm.Redact(err.Error()))
	} else if resp == nil {
		attrs = append(attrs, semconv.ErrorTypeKey.String("abandoned"))
	}
	span.SetAttributes(attrs...)
}

// FromEnv returns a tracer provider exporting spans by OTLP over HTTP when
// the standard variables ask for it (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, unless OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none), and nil otherwise. The exporter reads the
// other OTEL_EXPORTER_OTLP_* variables (headers, timeout, TLS) itself;
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the service. Call
// shutdown before exiting to flush the last spans.
func FromEnv(ctx context.Context) (trace.TracerProvider, func(context.Context) error, error) {
	noop := func(context.Context) error { return nil }
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") ||
		strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none") ||
		(os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "") {
		return nil, noop, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, noop, err
	}
	res, err := resource.Merge(resource.Default(), resource.Environment())
	if err != nil {
		res = resource.Default()
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}
