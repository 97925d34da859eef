package anthropic_test

import (
	"encoding/json"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

// benchResponse is a typical agent turn: some text, then a tool call.
var benchResponse = &llm.Response{
	Content: []llm.Part{
		llm.Text{Text: "I will look that up for you in the product catalogue before answering the question."},
		llm.ToolCall{ID: "toolu_01", Name: "search", Input: json.RawMessage(`{"query":"waterproof hiking boots","limit":5}`)},
	},
	StopReason: llm.StopToolUse,
	Usage:      llm.Usage{InputTokens: 420, OutputTokens: 60, CacheReadTokens: 2048},
}

var benchRequest = &llm.Request{
	System:   []llm.Text{{Text: "You are a shop assistant.", Cache: &llm.CacheControl{}}},
	Messages: []llm.Message{llm.UserText("Do you have waterproof hiking boots?")},
	Tools: []llm.Tool{{Name: "search", Description: "Search the catalogue.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"},"limit":{"type":"integer"}}}`)}},
}

// BenchmarkGenerate measures one non-streamed call through the SDK against
// the emulator on loopback: the adapter's overhead plus the emulator's.
func BenchmarkGenerate(b *testing.B) {
	srv, m := newModel(b)
	b.ReportAllocs()
	for b.Loop() {
		srv.Enqueue(llmtest.WireReply{Response: benchResponse})
		if _, err := m.Generate(b.Context(), benchRequest); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStream measures one streamed call, every event consumed.
func BenchmarkStream(b *testing.B) {
	srv, m := newModel(b)
	b.ReportAllocs()
	for b.Loop() {
		srv.Enqueue(llmtest.WireReply{Response: benchResponse})
		if _, err := llm.Collect(m.Stream(b.Context(), benchRequest)); err != nil {
			b.Fatal(err)
		}
	}
}
