package openai

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest/openaitest"
)

// wire returns the JSON body the SDK would send for req, decoded.
func wire(t *testing.T, official bool, req *llm.Request) map[string]any {
	t.Helper()
	params, err := translator{official: official, provider: "openai"}.params("gpt-test", req)
	if err != nil {
		t.Fatalf("params: %v", err)
	}
	b, err := json.Marshal(params)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	return m
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad want JSON: %v\n%s", err, s)
	}
	return m
}

func TestParams(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n0000")
	one := llm.Float(1)
	tests := []struct {
		name     string
		official bool
		req      *llm.Request
		want     string
	}{{
		name: "one user text is a string",
		req:  &llm.Request{Messages: []llm.Message{llm.UserText("hi")}},
		want: `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`,
	}, {
		name: "system blocks join into one system message",
		req: &llm.Request{
			System:   []llm.Text{{Text: "Be brief."}, {Text: "Answer in French."}},
			Messages: []llm.Message{llm.UserText("hi")},
		},
		want: `{"model":"gpt-test","messages":[
			{"role":"system","content":"Be brief.\n\nAnswer in French."},
			{"role":"user","content":"hi"}]}`,
	}, {
		name:     "system blocks stay parts for OpenAI, breakpoints kept",
		official: true,
		req: &llm.Request{
			System:   []llm.Text{{Text: "Long rules.", Cache: &llm.CacheControl{}}, {Text: "Today."}},
			Messages: []llm.Message{llm.UserText("hi")},
		},
		want: `{"model":"gpt-test","messages":[
			{"role":"system","content":[
				{"type":"text","text":"Long rules.","prompt_cache_breakpoint":{"mode":"explicit"}},
				{"type":"text","text":"Today."}]},
			{"role":"user","content":"hi"}]}`,
	}, {
		name: "breakpoints are dropped for compatible servers",
		req: &llm.Request{
			System:   []llm.Text{{Text: "Long rules.", Cache: &llm.CacheControl{TTL: llm.CacheTTL1h}}},
			Messages: []llm.Message{llm.User(llm.Text{Text: "doc", Cache: &llm.CacheControl{}})},
		},
		want: `{"model":"gpt-test","messages":[
			{"role":"system","content":"Long rules."},
			{"role":"user","content":"doc"}]}`,
	}, {
		name:     "1h breakpoint becomes 12h on parts of every kind",
		official: true,
		req: &llm.Request{Messages: []llm.Message{llm.User(
			llm.Image{URL: "https://x/cat.png", Cache: &llm.CacheControl{TTL: llm.CacheTTL1h}},
			llm.Document{MediaType: "application/pdf", Data: []byte("%PDF"), Cache: &llm.CacheControl{}},
		)}},
		want: `{"model":"gpt-test","messages":[{"role":"user","content":[
			{"type":"image_url","image_url":{"url":"https://x/cat.png"},"prompt_cache_breakpoint":{"mode":"explicit","ttl":"12h"}},
			{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERg==","filename":"document.pdf"},"prompt_cache_breakpoint":{"mode":"explicit"}}]}]}`,
	}, {
		name: "images inline and by URL, documents",
		req: &llm.Request{Messages: []llm.Message{llm.User(
			llm.Text{Text: "Compare:"},
			llm.Image{Data: png},
			llm.Image{MediaType: "image/jpeg", URL: "https://x/a.jpg"},
			llm.Document{MediaType: "application/pdf", Data: []byte("%PDF"), Title: "report.pdf"},
			llm.Document{MediaType: "text/plain; charset=utf-8", Data: []byte("plain words"), Title: "notes"},
		)}},
		want: `{"model":"gpt-test","messages":[{"role":"user","content":[
			{"type":"text","text":"Compare:"},
			{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgowMDAw"}},
			{"type":"image_url","image_url":{"url":"https://x/a.jpg"}},
			{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERg==","filename":"report.pdf"}},
			{"type":"text","text":"notes\n\nplain words"}]}]}`,
	}, {
		name: "tool round trip: calls, results first, error prefix, thinking dropped",
		req: &llm.Request{Messages: []llm.Message{
			llm.UserText("weather?"),
			llm.Assistant(
				llm.Thinking{Text: "let me look", Signature: "sig"},
				llm.Text{Text: "Looking."},
				llm.ToolCall{ID: "call_1", Name: "weather", Input: json.RawMessage(`{"city":"Paris"}`)},
				llm.ToolCall{ID: "call_2", Name: "time"},
			),
			llm.User(
				llm.ToolResult{CallID: "call_1", Content: []llm.Part{llm.Text{Text: "sunny"}}},
				llm.ToolResult{CallID: "call_2", IsError: true, Content: []llm.Part{llm.Text{Text: "no clock"}}},
				llm.Text{Text: "thanks"},
			),
		}},
		want: `{"model":"gpt-test","messages":[
			{"role":"user","content":"weather?"},
			{"role":"assistant","content":"Looking.","tool_calls":[
				{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},
				{"id":"call_2","type":"function","function":{"name":"time","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"call_1","content":"sunny"},
			{"role":"tool","tool_call_id":"call_2","content":"Error: no clock"},
			{"role":"user","content":"thanks"}]}`,
	}, {
		name: "an assistant turn of thinking only is left out",
		req: &llm.Request{Messages: []llm.Message{
			llm.UserText("a"), llm.Assistant(llm.Thinking{Text: "hmm"}), llm.UserText("b"),
		}},
		want: `{"model":"gpt-test","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`,
	}, {
		name: "tools, named choice, sampling, stop, compatible max_tokens",
		req: &llm.Request{
			Messages:      []llm.Message{llm.UserText("hi")},
			Tools:         []llm.Tool{{Name: "weather", Description: "Weather now", InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}, {Name: "noargs"}},
			ToolChoice:    llm.ToolChoice{Mode: llm.ToolNamed, Name: "weather"},
			MaxTokens:     100,
			Temperature:   one,
			TopP:          llm.Float(0.5),
			StopSequences: []string{"END"},
		},
		want: `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}],
			"max_tokens":100,"temperature":1,"top_p":0.5,"stop":["END"],
			"tool_choice":{"type":"function","function":{"name":"weather"}},
			"tools":[
				{"type":"function","function":{"name":"weather","description":"Weather now","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
				{"type":"function","function":{"name":"noargs","parameters":{"type":"object","properties":{}}}}]}`,
	}, {
		name:     "OpenAI gets max_completion_tokens; any tool; structured output; thinking",
		official: true,
		req: &llm.Request{
			Messages:   []llm.Message{llm.UserText("hi")},
			Tools:      []llm.Tool{{Name: "t"}},
			ToolChoice: llm.ToolChoice{Mode: llm.ToolAny},
			MaxTokens:  100,
			Output:     &llm.OutputSchema{Schema: json.RawMessage(`{"type":"object"}`), Strict: true},
			Thinking:   &llm.ThinkingConfig{BudgetTokens: 4000},
		},
		want: `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}],
			"max_completion_tokens":100,"reasoning_effort":"medium","tool_choice":"required",
			"response_format":{"type":"json_schema","json_schema":{"name":"output","schema":{"type":"object"},"strict":true}},
			"tools":[{"type":"function","function":{"name":"t","parameters":{"type":"object","properties":{}}}}]}`,
	}, {
		name: "compatible servers get top_k as an extra field, and parallel_tool_calls",
		req: &llm.Request{
			Messages:          []llm.Message{llm.UserText("hi")},
			Tools:             []llm.Tool{{Name: "t"}},
			TopK:              40,
			ParallelToolCalls: new(false),
		},
		want: `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}],"top_k":40,"parallel_tool_calls":false,
			"tools":[{"type":"function","function":{"name":"t","parameters":{"type":"object","properties":{}}}}]}`,
	}, {
		name:     "OpenAI gets parallel_tool_calls when allowed explicitly",
		official: true,
		req: &llm.Request{
			Messages:          []llm.Message{llm.UserText("hi")},
			Tools:             []llm.Tool{{Name: "t"}},
			ParallelToolCalls: new(true),
		},
		want: `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}],"parallel_tool_calls":true,
			"tools":[{"type":"function","function":{"name":"t","parameters":{"type":"object","properties":{}}}}]}`,
	}, {
		name:     "parallel_tool_calls is left out without tools",
		official: true,
		req:      &llm.Request{Messages: []llm.Message{llm.UserText("hi")}, ParallelToolCalls: new(false)},
		want:     `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`,
	}, {
		name: "tool choice none",
		req: &llm.Request{
			Messages:   []llm.Message{llm.UserText("hi")},
			Tools:      []llm.Tool{{Name: "t"}},
			ToolChoice: llm.ToolChoice{Mode: llm.ToolNone},
		},
		want: `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}],"tool_choice":"none",
			"tools":[{"type":"function","function":{"name":"t","parameters":{"type":"object","properties":{}}}}]}`,
	}, {
		name:     "cached tool result and assistant text as parts",
		official: true,
		req: &llm.Request{Messages: []llm.Message{
			llm.UserText("q"),
			llm.Assistant(llm.Text{Text: "a", Cache: &llm.CacheControl{}}, llm.ToolCall{ID: "c", Name: "t", Input: json.RawMessage(`{}`)}),
			llm.User(llm.ToolResult{CallID: "c", Content: []llm.Part{llm.Text{Text: "r"}}, Cache: &llm.CacheControl{}}),
		}},
		want: `{"model":"gpt-test","messages":[
			{"role":"user","content":"q"},
			{"role":"assistant","content":[{"type":"text","text":"a","prompt_cache_breakpoint":{"mode":"explicit"}}],
			 "tool_calls":[{"id":"c","type":"function","function":{"name":"t","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"c","content":[{"type":"text","text":"r","prompt_cache_breakpoint":{"mode":"explicit"}}]}]}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wire(t, tt.official, tt.req)
			if diff := cmp.Diff(decode(t, tt.want), got); diff != "" {
				t.Errorf("wire body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParamsInvalid(t *testing.T) {
	user := func(parts ...llm.Part) *llm.Request {
		return &llm.Request{Messages: []llm.Message{llm.UserText("first"), llm.User(parts...)}}
	}
	tests := []struct {
		name string
		req  *llm.Request
		want string // a fragment of the message
	}{
		{"no messages", &llm.Request{}, "no messages"},
		{"unknown role", &llm.Request{Messages: []llm.Message{{Role: "system", Parts: []llm.Part{llm.Text{Text: "x"}}}}}, `message 0: unknown role "system"`},
		{"image without source", user(llm.Text{Text: "x"}, llm.Image{}), "message 1 part 1: image has neither data nor URL"},
		{"not an image", user(llm.Image{MediaType: "application/pdf", Data: []byte("%PDF")}), `message 1 part 0: image media type "application/pdf"`},
		{"pdf by url", user(llm.Document{MediaType: "application/pdf", URL: "https://x/a.pdf"}), "message 1 part 0: documents by URL"},
		{"document type", user(llm.Document{MediaType: "application/msword", Data: []byte("x")}), `message 1 part 0: document media type "application/msword" is not supported`},
		{"bad utf8", user(llm.Document{MediaType: "text/plain", Data: []byte{0xff}}), "not valid UTF-8"},
		{"image in tool result", user(llm.ToolResult{CallID: "c", Content: []llm.Part{llm.Text{Text: "x"}, llm.Image{URL: "u"}}}), "message 1 part 0: tool result content part 1: Chat Completions tool results hold only text, not image"},
		{"tool result without id", user(llm.ToolResult{}), "message 1 part 0: tool result has no call ID"},
		{"tool call in user turn", user(llm.ToolCall{ID: "c", Name: "t"}), "message 1 part 0: a user message cannot hold a tool call part"},
		{"image in assistant turn", &llm.Request{Messages: []llm.Message{llm.UserText("x"), llm.Assistant(llm.Image{URL: "u"})}}, "message 1 part 0: an assistant message cannot hold a image part"},
		{"tool call without id", &llm.Request{Messages: []llm.Message{llm.UserText("x"), llm.Assistant(llm.ToolCall{Name: "t"})}}, "message 1 part 0: tool call has no ID"},
		{"bad ttl", user(llm.Text{Text: "x", Cache: &llm.CacheControl{TTL: "2h"}}), `message 1 part 0: cache ttl "2h"`},
		{"bad tool ttl", &llm.Request{Messages: []llm.Message{llm.UserText("x")}, Tools: []llm.Tool{{Name: "t", Cache: &llm.CacheControl{TTL: "9m"}}}}, `tool 0 (t): cache ttl "9m"`},
		{"tool schema", &llm.Request{Messages: []llm.Message{llm.UserText("x")}, Tools: []llm.Tool{{Name: "t", InputSchema: json.RawMessage(`[1]`)}}}, "tool 0 (t): input schema is not a JSON object"},
		{"tool without name", &llm.Request{Messages: []llm.Message{llm.UserText("x")}, Tools: []llm.Tool{{}}}, "tool 0: no name"},
		{"named tool missing", &llm.Request{Messages: []llm.Message{llm.UserText("x")}, Tools: []llm.Tool{{Name: "t"}}, ToolChoice: llm.ToolChoice{Mode: llm.ToolNamed, Name: "u"}}, `names tool "u"`},
		{"any without tools", &llm.Request{Messages: []llm.Message{llm.UserText("x")}, ToolChoice: llm.ToolChoice{Mode: llm.ToolAny}}, "needs tools"},
		{"output schema", &llm.Request{Messages: []llm.Message{llm.UserText("x")}, Output: &llm.OutputSchema{Schema: json.RawMessage(`"x"`)}}, "output schema is not a JSON object"},
		{"negative max tokens", &llm.Request{Messages: []llm.Message{llm.UserText("x")}, MaxTokens: -1}, "max tokens: -1"},
		{"top_k for OpenAI", &llm.Request{Messages: []llm.Message{llm.UserText("x")}, TopK: 40}, "top_k: OpenAI's API has no top-k sampling"},
		{"negative top_k", &llm.Request{Messages: []llm.Message{llm.UserText("x")}, TopK: -1}, "top_k: -1 is negative"},
		{"empty user turn", user(), "message 1: user message has no content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := translator{official: true, provider: "openai"}.params("gpt-test", tt.req)
			e, ok := errors.AsType[*llm.Error](err)
			if !ok {
				t.Fatalf("err = %v, want *llm.Error", err)
			}
			if e.Kind != llm.KindInvalidRequest || e.Provider != "openai" {
				t.Errorf("kind, provider = %s, %q; want invalid_request, openai", e.Kind, e.Provider)
			}
			if !strings.Contains(e.Message, tt.want) {
				t.Errorf("message %q does not contain %q", e.Message, tt.want)
			}
		})
	}
}

func TestParamsLeavesRequestUnchanged(t *testing.T) {
	req := &llm.Request{
		System:   []llm.Text{{Text: "s"}},
		Messages: []llm.Message{llm.UserText("a"), llm.Assistant(llm.Thinking{Text: "t"}, llm.Text{Text: "b"}), llm.UserText("c")},
		Tools:    []llm.Tool{{Name: "t"}},
	}
	before := req.Clone()
	wire(t, true, req)
	if diff := cmp.Diff(before, req); diff != "" {
		t.Errorf("request changed (-before +after):\n%s", diff)
	}
}

func TestReasoningEffort(t *testing.T) {
	for budget, want := range map[int]string{0: "low", 1024: "low", 2048: "low", 2049: "medium", 8192: "medium", 8193: "high", 64000: "high"} {
		if got := string(reasoningEffort(budget)); got != want {
			t.Errorf("reasoningEffort(%d) = %s, want %s", budget, got, want)
		}
	}
}

func TestIsOfficial(t *testing.T) {
	for base, want := range map[string]bool{
		DefaultBaseURL:                   true,
		"https://API.openai.com/v1/":     true,
		"http://127.0.0.1:11434/v1":      false,
		"https://api.groq.com/openai/v1": false,
		"https://openrouter.ai/api/v1":   false,
		"::bad":                          false,
	} {
		if got := isOfficial(base); got != want {
			t.Errorf("isOfficial(%q) = %v, want %v", base, got, want)
		}
	}
}

// TestTopKOnTheWire checks that top_k, which the SDK's params have no field
// for, reaches a compatible server from both Generate and Stream.
func TestTopKOnTheWire(t *testing.T) {
	srv := openaitest.NewServer(t)
	m := New(Options{APIKey: "sk-test", BaseURL: srv.URL}).Model("llama3")
	req := &llm.Request{Messages: []llm.Message{llm.UserText("hi")}, TopK: 20}
	if _, err := m.Generate(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if _, err := llm.Collect(m.Stream(t.Context(), req)); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for i, r := range reqs {
		var body struct {
			TopK   *int `json:"top_k"`
			Stream bool `json:"stream"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if body.TopK == nil || *body.TopK != 20 || body.Stream != (i == 1) {
			t.Errorf("request %d body: %s", i, r.Body)
		}
	}
}
