package gemini_test

import (
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest/geminitest"
)

// The benchmarks measure the adapter's per-call overhead (translation, the
// SDK, HTTP over loopback, decoding) against the emulator, which echoes a
// short answer.

func BenchmarkGenerate(b *testing.B) {
	srv := geminitest.NewServer(b)
	m := newModel(srv)
	req := &llm.Request{Messages: []llm.Message{llm.UserText("The quick brown fox jumps over the lazy dog.")}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Generate(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStream(b *testing.B) {
	srv := geminitest.NewServer(b)
	m := newModel(srv)
	req := &llm.Request{Messages: []llm.Message{llm.UserText("The quick brown fox jumps over the lazy dog.")}}
	b.ReportAllocs()
	for b.Loop() {
		for _, err := range m.Stream(b.Context(), req) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
