package llm

import (
	"encoding/json"
	"errors"
	"iter"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The accumulator rebuilds interleaved deltas (as Anthropic and OpenAI send
// them) into parts in index order.
func TestAccumulator(t *testing.T) {
	var a Accumulator
	events := []Event{
		{Kind: EventThinking, Index: 0, Text: "let me "},
		{Kind: EventThinking, Index: 0, Text: "think", Signature: "sig"},
		{Kind: EventThinking, Index: 0, Signature: "==", Text: ""},
		{Kind: EventText, Index: 1, Text: "Calling "},
		{Kind: EventToolCallStart, Index: 2, ToolCall: &ToolCall{ID: "a", Name: "add"}},
		{Kind: EventToolCallStart, Index: 3, ToolCall: &ToolCall{ID: "b", Name: "mul"}},
		{Kind: EventText, Index: 1, Text: "tools."},
		{Kind: EventToolCallDelta, Index: 2, Text: `{"x":`},
		{Kind: EventToolCallDelta, Index: 3, Text: `{"y":2}`},
		{Kind: EventToolCallDelta, Index: 2, Text: `1}`},
		{Kind: EventToolCallEnd, Index: 3},
		{Kind: EventToolCallEnd, Index: 2},
		{Kind: EventUsage, Usage: &Usage{InputTokens: 3}},
		{Kind: EventUsage, Usage: &Usage{InputTokens: 3, OutputTokens: 9}},
	}
	var ends []ToolCall
	for _, ev := range events {
		if out := a.Add(ev); out.Kind == EventToolCallEnd {
			ends = append(ends, *out.ToolCall)
		}
	}
	a.ID, a.StopReason = "r1", StopToolUse
	want := &Response{
		ID:         "r1",
		StopReason: StopToolUse,
		Usage:      Usage{InputTokens: 3, OutputTokens: 9},
		Content: []Part{
			Thinking{Text: "let me think", Signature: "sig=="},
			Text{Text: "Calling tools."},
			ToolCall{ID: "a", Name: "add", Input: json.RawMessage(`{"x":1}`)},
			ToolCall{ID: "b", Name: "mul", Input: json.RawMessage(`{"y":2}`)},
		},
	}
	if diff := cmp.Diff(want, a.Response()); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	wantEnds := []ToolCall{want.Content[3].(ToolCall), want.Content[2].(ToolCall)}
	if diff := cmp.Diff(wantEnds, ends); diff != "" {
		t.Errorf("completed calls on EventToolCallEnd (-want +got):\n%s", diff)
	}
}

func TestAccumulatorEmptyArguments(t *testing.T) {
	var a Accumulator
	a.Add(Event{Kind: EventToolCallStart, Index: 0, ToolCall: &ToolCall{ID: "a", Name: "now"}})
	ev := a.Add(Event{Kind: EventToolCallEnd, Index: 0})
	if got := string(ev.ToolCall.Input); got != "{}" {
		t.Errorf("input = %q, want {} for a call without arguments", got)
	}
}

func TestStreamResponseRoundTrip(t *testing.T) {
	resp := &Response{
		ID: "x", Model: "p/m", StopReason: StopToolUse,
		Usage: Usage{InputTokens: 1, OutputTokens: 2, CacheReadTokens: 3},
		Content: []Part{
			Thinking{Text: "t", Signature: "s"},
			Text{Text: "hello"},
			ToolCall{ID: "c", Name: "f", Input: json.RawMessage(`{"a":[1]}`)},
		},
	}
	var a Accumulator
	a.ID, a.Model, a.StopReason = resp.ID, resp.Model, resp.StopReason
	var done *Response
	for ev, err := range StreamResponse(resp) {
		if err != nil {
			t.Fatal(err)
		}
		a.Add(ev)
		if ev.Kind == EventDone {
			done = ev.Response
		}
	}
	if done != resp {
		t.Errorf("EventDone carries %v, want the response itself", done)
	}
	if diff := cmp.Diff(resp, a.Response()); diff != "" {
		t.Errorf("accumulated replay (-want +got):\n%s", diff)
	}
}

func TestCollect(t *testing.T) {
	ok := &Response{Content: []Part{Text{Text: "hi"}}}
	boom := errors.New("boom")
	tests := []struct {
		name     string
		stream   iter.Seq2[Event, error]
		want     *Response
		wantKind ErrorKind
		wantIs   error
	}{
		{"done", StreamResponse(ok), ok, "", nil},
		{"error", func(yield func(Event, error) bool) {
			if yield(Event{Kind: EventText, Text: "par"}, nil) {
				yield(Event{}, boom)
			}
		}, nil, "", boom},
		{"cut short", func(yield func(Event, error) bool) {
			yield(Event{Kind: EventText, Text: "partial answer"}, nil)
		}, nil, KindNetwork, ErrIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Collect(tt.stream)
			if got != tt.want {
				t.Errorf("response = %v, want %v", got, tt.want)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want %v", err, tt.wantIs)
			}
			if KindOf(err) != tt.wantKind {
				t.Errorf("kind = %q, want %q", KindOf(err), tt.wantKind)
			}
		})
	}
}
