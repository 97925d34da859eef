package structured_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/llm/llmtest/geminitest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/provider/anthropic"
	"github.com/keelai/keel/provider/gemini"
	"github.com/keelai/keel/provider/openai"
	"github.com/keelai/keel/structured"
)

const fakeKey = "test-key-not-secret"

// TestThroughProviders asks each provider's wire emulator for a weather
// value, blocking and streamed; the first answer is invalid, so the repair
// loop runs over the real adapters too. The schema must reach the wire in
// each provider's native field.
func TestThroughProviders(t *testing.T) {
	a := anthropictest.NewServer(t)
	o := openaitest.NewServer(t)
	g := geminitest.NewServer(t)
	providers := []struct {
		name       string
		m          llm.Model
		enqueue    func(...llmtest.WireReply)
		requests   func() []llmtest.Recorded
		schemaWire string // where the schema shows up in the request body
	}{
		{"anthropic", anthropic.New(anthropic.Options{APIKey: fakeKey, BaseURL: a.URL}).Model("claude-sonnet-4-6"), a.Enqueue, a.Requests, `"output_config"`},
		{"openai", openai.New(openai.Options{APIKey: fakeKey, BaseURL: o.URL}).Model("gpt-4.1-mini"), o.Enqueue, o.Requests, `"json_schema"`},
		{"gemini", gemini.New(gemini.Options{APIKey: fakeKey, BaseURL: g.URL}).Model("gemini-2.5-flash"), g.Enqueue, g.Requests, `"responseMimeType":"application/json"`},
	}
	text := func(s string) llmtest.WireReply {
		return llmtest.WireReply{Response: &llm.Response{
			Content: []llm.Part{llm.Text{Text: s}}, StopReason: llm.StopEndTurn,
			Usage: llm.Usage{InputTokens: 10, OutputTokens: 10},
		}}
	}
	for _, p := range providers {
		for _, streamed := range []bool{false, true} {
			name := p.name
			var opts []structured.Option
			if streamed {
				name += "/stream"
				opts = append(opts, structured.WithStream())
			}
			t.Run(name, func(t *testing.T) {
				before := len(p.requests())
				p.enqueue(text(`{"city":"Oslo","temp_c":-3}`), text(`{"city":"Oslo","temp_c":-3,"sky":"clear"}`))
				got, err := structured.Generate[weather](context.Background(), p.m, ask(), opts...)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(weather{City: "Oslo", TempC: -3, Sky: "clear"}, got); diff != "" {
					t.Errorf("value (-want +got):\n%s", diff)
				}
				reqs := p.requests()[before:]
				if len(reqs) != 2 {
					t.Fatalf("%d requests, want 2", len(reqs))
				}
				if body := string(reqs[0].Body); !strings.Contains(body, p.schemaWire) || !strings.Contains(body, "temp_c") {
					t.Errorf("first request lacks the native schema (%s): %s", p.schemaWire, body)
				}
				if body := string(reqs[1].Body); !strings.Contains(body, "missing property") {
					t.Errorf("repair request lacks the validation problems: %s", body)
				}
			})
		}
	}
}
