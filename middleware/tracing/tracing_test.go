package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/middleware/tracing"
)

func attrs(s sdktrace.ReadOnlySpan) map[string]any {
	m := map[string]any{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

func TestSpanHasGenAIAttributesSameForStream(t *testing.T) {
	reply := func() llmtest.Reply {
		return llmtest.Reply{Response: &llm.Response{
			ID: "msg_1", Content: []llm.Part{llm.Text{Text: "hi there"}}, StopReason: llm.StopEndTurn,
			Usage: llm.Usage{InputTokens: 5, OutputTokens: 2, CacheReadTokens: 100, CacheWriteTokens: 20, CacheWrite1hTokens: 10},
		}}
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	m := tracing.New(tp)(llmtest.NewModel("anthropic/claude-sonnet-4-5", reply(), reply()))
	req := &llm.Request{MaxTokens: 100, Temperature: llm.Float(0.5), Tags: map[string]string{"prompt": "greet"}}
	if _, err := m.Generate(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if _, err := llm.Collect(m.Stream(t.Context(), req)); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	want := map[string]any{
		"gen_ai.operation.name":                    "chat",
		"gen_ai.provider.name":                     "anthropic",
		"gen_ai.request.model":                     "claude-sonnet-4-5",
		"gen_ai.request.max_tokens":                int64(100),
		"gen_ai.request.temperature":               0.5,
		"gen_ai.prompt.name":                       "greet",
		"gen_ai.response.model":                    "claude-sonnet-4-5",
		"gen_ai.response.id":                       "msg_1",
		"gen_ai.response.finish_reasons":           []string{"end_turn"},
		"gen_ai.usage.input_tokens":                int64(135),
		"gen_ai.usage.output_tokens":               int64(2),
		"gen_ai.usage.cache_read.input_tokens":     int64(100),
		"gen_ai.usage.cache_creation.input_tokens": int64(30),
		"keel.attempts":                            int64(0),
		"keel.cache_hit":                           false,
		"keel.cost_usd":                            0.0,
	}
	for i, s := range spans {
		stream := i == 1
		w := map[string]any{"gen_ai.request.stream": stream}
		for k, v := range want {
			w[k] = v
		}
		if diff := cmp.Diff(w, attrs(s)); diff != "" {
			t.Errorf("span %d attributes (-want +got):\n%s", i, diff)
		}
		if s.Name() != "chat claude-sonnet-4-5" {
			t.Errorf("span name %q", s.Name())
		}
	}
}

func TestErrorSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	fake := llmtest.NewModel("gemini/gemini-2.5-flash", llmtest.Reply{Err: &llm.Error{Kind: llm.KindAuth, Message: "bad key AIzaSyA1234567890abcdefghijklmnop"}})
	tracing.New(tp)(fake).Generate(t.Context(), &llm.Request{})
	s := rec.Ended()[0]
	a := attrs(s)
	if a["error.type"] != "auth" || a["gen_ai.provider.name"] != "gcp.gemini" {
		t.Errorf("attributes %v", a)
	}
	if s.Status().Code != codes.Error || s.Status().Description != "auth: bad key [REDACTED]" {
		t.Errorf("status %+v", s.Status())
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	tp, shutdown, err := tracing.FromEnv(t.Context())
	if err != nil || tp != nil {
		t.Fatalf("without OTEL variables: %v, %v; want no provider", tp, err)
	}
	shutdown(t.Context())

	got := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.Path
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	if tp, _, _ := tracing.FromEnv(t.Context()); tp != nil {
		t.Error("OTEL_TRACES_EXPORTER=none must turn tracing off")
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	tp, shutdown, err = tracing.FromEnv(t.Context())
	if err != nil || tp == nil {
		t.Fatalf("with an endpoint: %v, %v", tp, err)
	}
	tracing.New(tp)(llmtest.NewEcho("openai/gpt-4.1")).Generate(context.Background(), &llm.Request{})
	if err := shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := <-got; r != "POST /v1/traces" {
		t.Errorf("exporter sent %q", r)
	}
}
