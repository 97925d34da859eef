package llm

import (
	"context"
	"testing"
)

// BenchmarkAccumulate measures building a response from a typical stream:
// 200 text deltas and one tool call in 20 argument fragments.
func BenchmarkAccumulate(b *testing.B) {
	events := make([]Event, 0, 230)
	for range 200 {
		events = append(events, Event{Kind: EventText, Index: 0, Text: "token "})
	}
	events = append(events, Event{Kind: EventToolCallStart, Index: 1, ToolCall: &ToolCall{ID: "c", Name: "search"}})
	for range 20 {
		events = append(events, Event{Kind: EventToolCallDelta, Index: 1, Text: `"abcd",`})
	}
	events = append(events, Event{Kind: EventToolCallEnd, Index: 1}, Event{Kind: EventUsage, Usage: &Usage{InputTokens: 10, OutputTokens: 220}})
	b.ReportAllocs()
	for b.Loop() {
		var a Accumulator
		for _, ev := range events {
			a.Add(ev)
		}
		_ = a.Response()
	}
}

// BenchmarkChain measures what five pass-through middleware cost per call
// over the bare model.
func BenchmarkChain(b *testing.B) {
	pass := func(next Model) Model {
		return Funcs{Next: next, GenerateFunc: func(ctx context.Context, req *Request) (*Response, error) {
			return next.Generate(ctx, req)
		}}
	}
	req := &Request{Messages: []Message{UserText("hi")}}
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		m    Model
	}{
		{"bare", nopModel{"p/m"}},
		{"5-middleware", Chain(nopModel{"p/m"}, pass, pass, pass, pass, pass)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.m.Generate(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCollectReplay measures draining a replayed stream (the path of a
// response-cache hit served as a stream).
func BenchmarkCollectReplay(b *testing.B) {
	resp := &Response{Content: []Part{Text{Text: "a cached answer"}, ToolCall{ID: "c", Name: "f", Input: []byte(`{}`)}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Collect(StreamResponse(resp)); err != nil {
			b.Fatal(err)
		}
	}
}
