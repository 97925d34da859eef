package openai

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/internal/lenientjson"
	"github.com/keelai/keel/llm"
)

func TestStopReason(t *testing.T) {
	tests := []struct {
		finish           string
		toolCalls, refus bool
		want             llm.StopReason
	}{
		{"stop", false, false, llm.StopEndTurn},
		{"stop", true, false, llm.StopToolUse}, // older Ollama
		{"stop", false, true, llm.StopRefusal},
		{"eos", false, false, llm.StopEndTurn},
		{"length", false, false, llm.StopMaxTokens},
		{"tool_calls", true, false, llm.StopToolUse},
		{"function_call", true, false, llm.StopToolUse},
		{"content_filter", false, false, llm.StopRefusal},
		{"pause_turn", false, false, llm.StopUnknown},
		{"", false, false, llm.StopUnknown},
	}
	for _, tt := range tests {
		if got := stopReason(tt.finish, tt.toolCalls, tt.refus); got != tt.want {
			t.Errorf("stopReason(%q, %v, %v) = %s, want %s", tt.finish, tt.toolCalls, tt.refus, got, tt.want)
		}
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		json string
		want llm.Usage
	}{
		{"plain", `{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}`, llm.Usage{InputTokens: 10, OutputTokens: 5}},
		{"cached tokens are inside prompt_tokens", `{"prompt_tokens":1200,"completion_tokens":20,"prompt_tokens_details":{"cached_tokens":1024}}`,
			llm.Usage{InputTokens: 176, OutputTokens: 20, CacheReadTokens: 1024}},
		{"cache writes too", `{"prompt_tokens":3000,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":1000,"cache_write_tokens":1500}}`,
			llm.Usage{InputTokens: 500, OutputTokens: 1, CacheReadTokens: 1000, CacheWriteTokens: 1500}},
		{"never negative", `{"prompt_tokens":10,"prompt_tokens_details":{"cached_tokens":20}}`, llm.Usage{CacheReadTokens: 20}},
		{"absent", `{}`, llm.Usage{}},
		{"nulls and floats", `{"prompt_tokens":12.0,"completion_tokens":null,"prompt_tokens_details":null}`, llm.Usage{InputTokens: 12}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u wireUsage
			if err := lenientjson.Unmarshal([]byte(tt.json), &u); err != nil {
				t.Fatal(err)
			}
			got := usage(&u)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			if got.PromptTokens() != max(int(u.PromptTokens), got.CacheReadTokens) {
				t.Errorf("PromptTokens() = %d, want prompt_tokens %d", got.PromptTokens(), u.PromptTokens)
			}
		})
	}
}

func TestResponse(t *testing.T) {
	p := New(Options{})
	tests := []struct {
		name string
		json string
		want *llm.Response
	}{{
		name: "text",
		json: `{"id":"chatcmpl-1","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}`,
		want: &llm.Response{ID: "chatcmpl-1", Content: []llm.Part{llm.Text{Text: "Hi"}}, StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 3, OutputTokens: 1}},
	}, {
		name: "reasoning_content, tool calls with null content",
		json: `{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"think",
			"tool_calls":[{"id":"call_a","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},{"id":"call_b","type":"function","function":{"name":"g","arguments":""}}]},
			"finish_reason":"tool_calls"}]}`,
		want: &llm.Response{ID: "x", Content: []llm.Part{
			llm.Thinking{Text: "think"},
			llm.ToolCall{ID: "call_a", Name: "f", Input: json.RawMessage(`{"a":1}`)},
			llm.ToolCall{ID: "call_b", Name: "g", Input: json.RawMessage(`{}`)},
		}, StopReason: llm.StopToolUse},
	}, {
		name: "reasoning (OpenRouter, Ollama), refusal",
		json: `{"choices":[{"index":0,"message":{"role":"assistant","content":"","refusal":"I can't help with that.","reasoning":"policy"},"finish_reason":"stop"}]}`,
		want: &llm.Response{Content: []llm.Part{llm.Thinking{Text: "policy"}, llm.Text{Text: "I can't help with that."}}, StopReason: llm.StopRefusal},
	}, {
		name: "shapes of compatible servers: content parts, object arguments, numbers where strings go",
		json: `{"id":7,"choices":[{"index":0,"message":{"role":"assistant","content":[{"type":"text","text":"A"},{"type":"text","text":"B"}],
			"tool_calls":[{"id":"c1","function":{"name":"f","arguments":{"q":"x"}}}]},"finish_reason":"tool_calls","extra":{"ignored":true}}],
			"usage":{"prompt_tokens":5,"completion_tokens":2}}`,
		want: &llm.Response{Content: []llm.Part{
			llm.Text{Text: "AB"},
			llm.ToolCall{ID: "c1", Name: "f", Input: json.RawMessage(`{"q":"x"}`)},
		}, StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 5, OutputTokens: 2}},
	}, {
		name: "deprecated function_call",
		json: `{"choices":[{"index":0,"message":{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}},"finish_reason":"function_call"}]}`,
		want: &llm.Response{Content: []llm.Part{llm.ToolCall{ID: "*", Name: "f", Input: json.RawMessage(`{}`)}}, StopReason: llm.StopToolUse},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.response([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			// Made-up call ids are random: check their shape, then compare.
			for i, part := range got.Content {
				if c, ok := part.(llm.ToolCall); ok && strings.HasPrefix(c.ID, "call_") && len(c.ID) > len("call_")+10 {
					c.ID = "*"
					got.Content[i] = c
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResponseNoChoices(t *testing.T) {
	tests := []struct {
		body string
		kind llm.ErrorKind
		msg  string
	}{
		{`{"id":"x","choices":[]}`, llm.KindServer, "no choices"},
		{`{"error":{"message":"model is loading","type":"server_error"}}`, llm.KindServer, "model is loading"},
		{`{"error":{"message":"prompt is too long","type":"invalid_request_error"}}`, llm.KindContextLength, "too long"},
		{`{"error":"boom"}`, llm.KindServer, "boom"},
		{`{"choices":[{"index":0,"message":{"content":"cut`, llm.KindNetwork, llm.ErrIncomplete.Error()},
		{`<html>Bad gateway</html>`, llm.KindServer, "malformed response"},
	}
	for _, tt := range tests {
		_, err := New(Options{}).response([]byte(tt.body))
		e, ok := err.(*llm.Error)
		if !ok || e.Kind != tt.kind || !strings.Contains(e.Message, tt.msg) {
			t.Errorf("%s: err = %v, want %s containing %q", tt.body, err, tt.kind, tt.msg)
		}
	}
}

// feed runs chunk JSONs through a streamState and returns the events.
func feed(t *testing.T, chunks ...string) (*streamState, []llm.Event) {
	t.Helper()
	st := newStreamState()
	var all []llm.Event
	for _, c := range chunks {
		var ch wireChunk
		if err := lenientjson.Unmarshal([]byte(c), &ch); err != nil {
			t.Fatalf("chunk %s: %v", c, err)
		}
		all = st.chunk(&ch, all)
	}
	return st, all
}

func TestStreamStateInterleavedToolCalls(t *testing.T) {
	st, evs := feed(t,
		`{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"content":"Checking "}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"weather","arguments":""}}]}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"time","arguments":""}}]}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"tz\":\"UTC\"}"}}]}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"content":"both."}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
		`{"id":"c1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}`,
	)
	got := st.acc.Response()
	want := &llm.Response{ID: "c1", Content: []llm.Part{
		llm.Text{Text: "Checking both."},
		llm.ToolCall{ID: "call_a", Name: "weather", Input: json.RawMessage(`{"city":"Paris"}`)},
		llm.ToolCall{ID: "call_b", Name: "time", Input: json.RawMessage(`{"tz":"UTC"}`)},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if st.finish != "tool_calls" || st.usage != (llm.Usage{InputTokens: 9, OutputTokens: 4}) {
		t.Errorf("finish, usage = %q, %+v", st.finish, st.usage)
	}
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind.String())
	}
	wantKinds := []string{"text", "tool_call_start", "tool_call_start", "tool_call_delta", "tool_call_delta", "tool_call_delta", "text", "tool_call_end", "tool_call_end"}
	if diff := cmp.Diff(wantKinds, kinds); diff != "" {
		t.Errorf("event kinds (-want +got):\n%s", diff)
	}
}

func TestStreamStateCompatShapes(t *testing.T) {
	st, _ := feed(t,
		// no ids anywhere, reasoning_content, empty deltas, whole calls
		// without an index, usage from Groq's x_groq.
		`{"choices":[{"index":0,"delta":{"role":"assistant"}}]}`,
		`{"choices":[{"index":0,"delta":{"reasoning_content":"Think "}}]}`,
		`{"choices":[{"index":0,"delta":{"reasoning_content":"more."}}]}`,
		`{"choices":[{"index":0,"delta":{}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{\"x\":1}"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"usage":{"prompt_tokens":7,"completion_tokens":2}}}`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":null}]}`,
	)
	want := &llm.Response{Content: []llm.Part{
		llm.Thinking{Text: "Think more."},
		llm.ToolCall{ID: "a", Name: "f", Input: json.RawMessage(`{}`)},
		llm.ToolCall{ID: "b", Name: "g", Input: json.RawMessage(`{"x":1}`)},
	}}
	if diff := cmp.Diff(want, st.acc.Response()); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if st.finish != "stop" || st.usage != (llm.Usage{InputTokens: 7, OutputTokens: 2}) {
		t.Errorf("finish, usage = %q, %+v", st.finish, st.usage)
	}
	if got := stopReason(st.finish, st.ncalls > 0, st.refusal); got != llm.StopToolUse {
		t.Errorf("stop reason = %s, want tool_use", got)
	}
}

func TestStreamStateFunctionCall(t *testing.T) {
	st, _ := feed(t,
		`{"choices":[{"index":0,"delta":{"function_call":{"name":"f","arguments":""}}}]}`,
		`{"choices":[{"index":0,"delta":{"function_call":{"arguments":"{\"a\":"}}}]}`,
		`{"choices":[{"index":0,"delta":{"function_call":{"arguments":"2}"}}}]}`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":"function_call"}]}`,
	)
	calls := st.acc.Response().ToolCalls()
	if len(calls) != 1 || calls[0].Name != "f" || string(calls[0].Input) != `{"a":2}` || calls[0].ID == "" {
		t.Errorf("calls = %+v", calls)
	}
}
