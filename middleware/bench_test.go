package middleware_test

import (
	"context"
	"io"
	"iter"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware"
	"github.com/keelai/keel/middleware/metrics"
)

// bare answers at once with a fixed response: what is measured is the
// stack around it.
func bare() llm.Model {
	resp := &llm.Response{
		ID: "r", Model: "anthropic/claude-haiku-4-5", Content: []llm.Part{llm.Text{Text: "hello there"}},
		StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 20, OutputTokens: 2, CacheReadTokens: 100},
	}
	return llm.Funcs{
		NameFunc: func() string { return "anthropic/claude-haiku-4-5" },
		GenerateFunc: func(context.Context, *llm.Request) (*llm.Response, error) {
			return resp, nil
		},
		StreamFunc: func(context.Context, *llm.Request) iter.Seq2[llm.Event, error] {
			return llm.StreamResponse(resp)
		},
	}
}

// BenchmarkStackOverhead measures the default stack per call against the
// bare model, when nothing is retried or cached: guard, cost with a meter,
// breaker, retry, metrics, and one JSON log record per call (to io.Discard).
func BenchmarkStackOverhead(b *testing.B) {
	met, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	models := map[string]llm.Model{
		"bare": bare(),
		"stack": middleware.Stack(middleware.StackOptions{
			Meter:   cost.NewMeter(),
			Metrics: met,
			Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
		})(bare()),
		"stack-no-log": middleware.Stack(middleware.StackOptions{Meter: cost.NewMeter()})(bare()),
	}
	req := &llm.Request{
		System:   []llm.Text{{Text: "You are terse."}},
		Messages: []llm.Message{llm.UserText("Summarise the attached in one line, please.")},
		Tags:     map[string]string{"prompt": "summary", "prompt_version": "2", "task": "summarize"},
	}
	ctx := context.Background()
	for _, name := range []string{"bare", "stack-no-log", "stack"} {
		m := models[name]
		b.Run(name+"/generate", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Generate(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/stream", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, err := range m.Stream(ctx, req) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
