package anthropic_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/provider/anthropic"
)

var (
	cache5m = &llm.CacheControl{}
	cache1h = &llm.CacheControl{TTL: llm.CacheTTL1h}
	png     = []byte("\x89PNG\r\n\x1a\n")
	pdf     = []byte("%PDF-1.7\n")
)

// TestRequestTranslation checks what reaches the wire, through the
// official SDK, for each feature: every part type, every place a cache
// breakpoint can go, tools, tool choice, limits and output schemas.
func TestRequestTranslation(t *testing.T) {
	user := func(parts ...llm.Part) []llm.Message { return []llm.Message{llm.User(parts...)} }
	tests := []struct {
		name string
		req  llm.Request
		want string // the expected wire JSON, for the keys it names
	}{
		{
			name: "defaults",
			req:  llm.Request{Messages: []llm.Message{llm.UserText("hi")}},
			want: `{"model":"claude-sonnet-4-6","max_tokens":64000,
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "system blocks with cache breakpoints",
			req: llm.Request{
				System:   []llm.Text{{Text: "Be brief."}, {Text: "Long reference text.", Cache: cache5m}, {Text: "More.", Cache: cache1h}},
				Messages: []llm.Message{llm.UserText("hi")},
			},
			want: `{"system":[
				{"type":"text","text":"Be brief."},
				{"type":"text","text":"Long reference text.","cache_control":{"type":"ephemeral"}},
				{"type":"text","text":"More.","cache_control":{"type":"ephemeral","ttl":"1h"}}]}`,
		},
		{
			name: "images inline and by URL, cached",
			req: llm.Request{Messages: user(
				llm.Image{MediaType: "image/png", Data: png, Cache: cache5m},
				llm.Image{URL: "https://example.com/cat.jpg", Cache: cache1h},
				llm.Text{Text: "Compare.", Cache: cache5m},
			)},
			want: `{"messages":[{"role":"user","content":[
				{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="},"cache_control":{"type":"ephemeral"}},
				{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"},"cache_control":{"type":"ephemeral","ttl":"1h"}},
				{"type":"text","text":"Compare.","cache_control":{"type":"ephemeral"}}]}]}`,
		},
		{
			name: "documents: PDF inline and by URL, plain text",
			req: llm.Request{Messages: user(
				llm.Document{MediaType: "application/pdf", Data: pdf, Title: "Report", Cache: cache1h},
				llm.Document{URL: "https://example.com/paper.pdf"},
				llm.Document{MediaType: "text/plain; charset=utf-8", Data: []byte("Plain notes."), Cache: cache5m},
				llm.Text{Text: "Summarise."},
			)},
			want: `{"messages":[{"role":"user","content":[
				{"type":"document","title":"Report","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0xLjcK"},"cache_control":{"type":"ephemeral","ttl":"1h"}},
				{"type":"document","source":{"type":"url","url":"https://example.com/paper.pdf"}},
				{"type":"document","source":{"type":"text","media_type":"text/plain","data":"Plain notes."},"cache_control":{"type":"ephemeral"}},
				{"type":"text","text":"Summarise."}]}]}`,
		},
		{
			name: "tool use and tool results with cache breakpoints",
			req: llm.Request{
				Messages: []llm.Message{
					llm.UserText("go"),
					llm.Assistant(llm.ToolCall{ID: "toolu_1", Name: "shot", Input: json.RawMessage(`{"url":"x"}`), Cache: cache5m},
						llm.ToolCall{ID: "toolu_2", Name: "noop"}),
					llm.User(
						llm.ToolResult{CallID: "toolu_1", Content: []llm.Part{llm.Text{Text: "here"}, llm.Image{MediaType: "image/png", Data: png}}, Cache: cache1h},
						llm.ToolResult{CallID: "toolu_2", IsError: true, Content: []llm.Part{llm.Text{Text: "boom"}}},
					),
				},
				Tools: []llm.Tool{{Name: "shot"}, {Name: "noop"}},
			},
			want: `{"messages":[
				{"role":"user","content":[{"type":"text","text":"go"}]},
				{"role":"assistant","content":[
					{"type":"tool_use","id":"toolu_1","name":"shot","input":{"url":"x"},"cache_control":{"type":"ephemeral"}},
					{"type":"tool_use","id":"toolu_2","name":"noop","input":{}}]},
				{"role":"user","content":[
					{"type":"tool_result","tool_use_id":"toolu_1","cache_control":{"type":"ephemeral","ttl":"1h"},"content":[
						{"type":"text","text":"here"},
						{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},
					{"type":"tool_result","tool_use_id":"toolu_2","is_error":true,"content":[{"type":"text","text":"boom"}]}]}]}`,
		},
		{
			name: "tools with schema order kept and a cached definition",
			req: llm.Request{
				Messages: []llm.Message{llm.UserText("hi")},
				Tools: []llm.Tool{
					{Name: "search", Description: "Search the docs.", InputSchema: json.RawMessage(`{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"}},"required":["zeta"]}`)},
					{Name: "noop", Cache: cache1h},
				},
			},
			want: `{"tools":[
				{"name":"search","description":"Search the docs.","input_schema":{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"}},"required":["zeta"]}},
				{"name":"noop","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral","ttl":"1h"}}]}`,
		},
		{
			name: "tool choice any",
			req:  llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Tools: []llm.Tool{{Name: "a"}}, ToolChoice: llm.ToolChoice{Mode: llm.ToolAny}},
			want: `{"tool_choice":{"type":"any"}}`,
		},
		{
			name: "tool choice none",
			req:  llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Tools: []llm.Tool{{Name: "a"}}, ToolChoice: llm.ToolChoice{Mode: llm.ToolNone}},
			want: `{"tool_choice":{"type":"none"}}`,
		},
		{
			name: "tool choice named",
			req:  llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Tools: []llm.Tool{{Name: "a"}}, ToolChoice: llm.ToolChoice{Mode: llm.ToolNamed, Name: "a"}},
			want: `{"tool_choice":{"type":"tool","name":"a"}}`,
		},
		{
			name: "one tool call per turn spells out the auto choice",
			req:  llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Tools: []llm.Tool{{Name: "a"}}, ParallelToolCalls: new(false)},
			want: `{"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}`,
		},
		{
			name: "one tool call per turn with any",
			req:  llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Tools: []llm.Tool{{Name: "a"}}, ToolChoice: llm.ToolChoice{Mode: llm.ToolAny}, ParallelToolCalls: new(false)},
			want: `{"tool_choice":{"type":"any","disable_parallel_tool_use":true}}`,
		},
		{
			name: "one tool call per turn with a named tool",
			req:  llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Tools: []llm.Tool{{Name: "a"}}, ToolChoice: llm.ToolChoice{Mode: llm.ToolNamed, Name: "a"}, ParallelToolCalls: new(false)},
			want: `{"tool_choice":{"type":"tool","name":"a","disable_parallel_tool_use":true}}`,
		},
		{
			name: "one tool call per turn means nothing with none",
			req:  llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Tools: []llm.Tool{{Name: "a"}}, ToolChoice: llm.ToolChoice{Mode: llm.ToolNone}, ParallelToolCalls: new(false)},
			want: `{"tool_choice":{"type":"none"}}`,
		},
		{
			name: "one tool call per turn means nothing without tools",
			req:  llm.Request{Messages: []llm.Message{llm.UserText("hi")}, ParallelToolCalls: new(false)},
			want: `{"tool_choice":null}`,
		},
		{
			name: "parallel tool calls allowed is the default",
			req:  llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Tools: []llm.Tool{{Name: "a"}}, ParallelToolCalls: new(true)},
			want: `{"tool_choice":null}`,
		},
		{
			name: "limits and stop sequences",
			req:  llm.Request{Messages: []llm.Message{llm.UserText("hi")}, MaxTokens: 300, StopSequences: []string{"\n\nHuman:", "END"}},
			want: `{"max_tokens":300,"stop_sequences":["\n\nHuman:","END"]}`,
		},
		{
			name: "thinking",
			req:  llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Thinking: &llm.ThinkingConfig{BudgetTokens: 4096}},
			want: `{"thinking":{"type":"enabled","budget_tokens":4096}}`,
		},
		{
			name: "structured output keeps property order",
			req: llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Output: &llm.OutputSchema{
				Name: "answer", Strict: true,
				Schema: json.RawMessage(`{"type":"object","properties":{"verdict":{"type":"string"},"reason":{"type":"string"}},"required":["verdict","reason"],"additionalProperties":false}`),
			}},
			want: `{"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"verdict":{"type":"string"},"reason":{"type":"string"}},"required":["verdict","reason"],"additionalProperties":false}}}}`,
		},
		{
			name: "tags stay home",
			req:  llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Tags: map[string]string{"prompt": "greet@3"}},
			want: `{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, m := newModel(t)
			if _, err := m.Generate(t.Context(), &tc.req); err != nil {
				t.Fatal(err)
			}
			body := lastBody(t, srv)
			want := jsonValue(t, tc.want).(map[string]any)
			got := map[string]any{}
			for k := range want {
				got[k] = body[k]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("wire JSON (-want +got):\n%s", diff)
			}
			if _, ok := body["tags"]; ok {
				t.Error("tags reached the wire")
			}
			if strings.Contains(tc.name, "order") {
				raw := string(srv.Requests()[0].Body)
				if strings.Index(raw, "zeta") > strings.Index(raw, "alpha") || strings.Index(raw, "verdict") > strings.Index(raw, "reason") {
					t.Errorf("schema properties reordered: %s", raw)
				}
			}
		})
	}
}

// TestSampling checks temperature, top_p and top_k: API version 2026-10-21
// rejects them (the emulator too), so a request that sets them is sent with
// the version that takes them; one that does not keeps the SDK's version.
func TestSampling(t *testing.T) {
	for _, tc := range []struct {
		name    string
		req     llm.Request
		want    string
		version string
	}{
		{"none", llm.Request{Messages: []llm.Message{llm.UserText("hi")}}, `{"temperature":null,"top_p":null,"top_k":null}`, "2026-10-21"},
		{"temperature", llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Temperature: llm.Float(0.2)}, `{"temperature":0.2,"top_p":null,"top_k":null}`, "2023-06-01"},
		{"both", llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Temperature: llm.Float(0), TopP: llm.Float(0.9)}, `{"temperature":0,"top_p":0.9,"top_k":null}`, "2023-06-01"},
		{"top_k", llm.Request{Messages: []llm.Message{llm.UserText("hi")}, TopK: 40}, `{"temperature":null,"top_p":null,"top_k":40}`, "2023-06-01"},
	} {
		for _, c := range calls {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				srv, m := newModel(t)
				if _, err := c.run(t.Context(), m, &tc.req); err != nil {
					t.Fatal(err)
				}
				body := lastBody(t, srv)
				want := jsonValue(t, tc.want).(map[string]any)
				got := map[string]any{"temperature": body["temperature"], "top_p": body["top_p"], "top_k": body["top_k"]}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("sampling (-want +got):\n%s", diff)
				}
				if v := srv.Requests()[0].Header.Get("anthropic-version"); v != tc.version {
					t.Errorf("anthropic-version %q, want %q", v, tc.version)
				}
			})
		}
	}
}

// TestInvalidRequests checks what the adapter refuses before sending:
// each error names where the problem is, and nothing reaches the API.
func TestInvalidRequests(t *testing.T) {
	msgs := func(ms ...llm.Message) llm.Request { return llm.Request{Messages: ms} }
	tests := []struct {
		name string
		req  *llm.Request
		want string
	}{
		{"nil", nil, "nil request"},
		{"no messages", &llm.Request{}, "at least one message"},
		{"empty message", ptr(msgs(llm.User())), "messages[0]: a message needs at least one part"},
		{"bad role", ptr(msgs(llm.Message{Role: "system", Parts: []llm.Part{llm.Text{Text: "x"}}})), `messages[0]: role "system"`},
		{"empty text", ptr(msgs(llm.UserText("hi"), llm.AssistantText(""))), "messages[1].parts[0]: empty text"},
		{"empty system", &llm.Request{System: []llm.Text{{}}, Messages: []llm.Message{llm.UserText("hi")}}, "system[0]: empty text"},
		{"negative max tokens", &llm.Request{Messages: []llm.Message{llm.UserText("hi")}, MaxTokens: -1}, "max_tokens"},
		{"negative top_k", &llm.Request{Messages: []llm.Message{llm.UserText("hi")}, TopK: -1}, "top_k: -1 is negative"},
		{"image in assistant", ptr(msgs(llm.UserText("hi"), llm.Assistant(llm.Image{URL: "https://x/y.png"}))), "messages[1].parts[0]: image parts are only accepted in user messages"},
		{"document in assistant", ptr(msgs(llm.UserText("hi"), llm.Assistant(llm.Document{URL: "https://x/y.pdf"}))), "messages[1].parts[0]: document parts"},
		{"tool call in user", ptr(msgs(llm.User(llm.ToolCall{ID: "a", Name: "b"}))), "messages[0].parts[0]: tool call parts are only accepted in assistant messages"},
		{"tool result in assistant", ptr(msgs(llm.UserText("hi"), llm.Assistant(llm.ToolResult{CallID: "a"}))), "messages[1].parts[0]: tool result parts"},
		{"thinking in user", ptr(msgs(llm.User(llm.Thinking{Text: "x"}))), "messages[0].parts[0]: thinking parts"},
		{"image media type", ptr(msgs(llm.User(llm.Text{Text: "x"}, llm.Image{MediaType: "image/bmp", Data: png}))), `messages[0].parts[1]: image: media type "image/bmp"`},
		{"image empty", ptr(msgs(llm.User(llm.Image{}))), "messages[0].parts[0]: image: neither Data nor URL"},
		{"image both", ptr(msgs(llm.User(llm.Image{MediaType: "image/png", Data: png, URL: "https://x"}))), "not both"},
		{"document media type", ptr(msgs(llm.User(llm.Document{MediaType: "application/msword", Data: pdf}))), `document: media type "application/msword"`},
		{"text document by URL", ptr(msgs(llm.User(llm.Document{MediaType: "text/plain", URL: "https://x/y.txt"}))), "must be inline"},
		{"text document not UTF-8", ptr(msgs(llm.User(llm.Document{MediaType: "text/plain", Data: []byte{0xff, 0xfe}}))), "not valid UTF-8"},
		{"cache ttl", ptr(msgs(llm.User(llm.Text{Text: "x", Cache: &llm.CacheControl{TTL: "2h"}}))), `messages[0].parts[0]: cache ttl "2h"`},
		{"system cache ttl", &llm.Request{System: []llm.Text{{Text: "s", Cache: &llm.CacheControl{TTL: "10m"}}}, Messages: []llm.Message{llm.UserText("hi")}}, `system[0]: cache ttl "10m"`},
		{"tool cache ttl", &llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Tools: []llm.Tool{{Name: "t", Cache: &llm.CacheControl{TTL: "1d"}}}}, `tools[0] (t): cache ttl "1d"`},
		{"tool call input", ptr(msgs(llm.UserText("hi"), llm.Assistant(llm.ToolCall{ID: "toolu_1", Name: "f", Input: json.RawMessage(`{"a":`)}))), "messages[1].parts[0]: tool call toolu_1 (f): input is not a JSON object"},
		{"tool call without id", ptr(msgs(llm.UserText("hi"), llm.Assistant(llm.ToolCall{Name: "f"}))), "id and name are required"},
		{"tool result without call id", ptr(msgs(llm.User(llm.ToolResult{}))), "call id is empty"},
		{"tool result content", ptr(msgs(llm.User(llm.ToolResult{CallID: "a", Content: []llm.Part{llm.ToolCall{ID: "x", Name: "y"}}}))), "messages[0].parts[0].content[0]: tool call parts are not accepted in a tool result"},
		{"tool result content cache", ptr(msgs(llm.User(llm.ToolResult{CallID: "a", Content: []llm.Part{llm.Text{Text: "x", Cache: &llm.CacheControl{TTL: "3m"}}}}))), `messages[0].parts[0].content[0]: cache ttl "3m"`},
		{"tool without name", &llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Tools: []llm.Tool{{}}}, "tools[0]: name is empty"},
		{"tool schema", &llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Tools: []llm.Tool{{Name: "t", InputSchema: json.RawMessage(`[1]`)}}}, "tools[0] (t): input_schema: not a JSON object"},
		{"tool choice unknown tool", &llm.Request{Messages: []llm.Message{llm.UserText("hi")}, ToolChoice: llm.ToolChoice{Mode: llm.ToolNamed, Name: "ghost"}}, `tool_choice: tool "ghost"`},
		{"tool choice mode", &llm.Request{Messages: []llm.Message{llm.UserText("hi")}, ToolChoice: llm.ToolChoice{Mode: "sometimes"}}, `unknown mode "sometimes"`},
		{"thinking budget", &llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Thinking: &llm.ThinkingConfig{}}, "budget_tokens must be positive"},
		{"output schema", &llm.Request{Messages: []llm.Message{llm.UserText("hi")}, Output: &llm.OutputSchema{Schema: json.RawMessage(`{"type":`)}}, "output.schema: not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, m := newModel(t)
			var before *llm.Request
			if tc.req != nil {
				before = tc.req.Clone()
			}
			check := func(method string, err error) {
				t.Helper()
				if llm.KindOf(err) != llm.KindInvalidRequest || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: err = %v, want an invalid-request error containing %q", method, err, tc.want)
				}
			}
			_, err := m.Generate(t.Context(), tc.req)
			check("Generate", err)
			_, err = collect(m.Stream(t.Context(), tc.req))
			check("Stream", err)
			_, err = m.CountTokens(t.Context(), tc.req)
			check("CountTokens", err)
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("%d requests reached the API", n)
			}
			if tc.req != nil {
				if diff := cmp.Diff(before, tc.req); diff != "" {
					t.Errorf("the request was modified (-before +after):\n%s", diff)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestDefaultMaxTokens(t *testing.T) {
	for model, want := range map[string]int{
		"claude-opus-4-6":            128000,
		"claude-opus-5-5":            128000,
		"claude-sonnet-4-6":          64000,
		"claude-sonnet-4-5-20250929": 64000,
		"claude-haiku-4-5-20251001":  64000,
		"claude-opus-4-1-20250805":   32000,
		"claude-3-5-haiku-latest":    8192,
		"claude-unknown-9":           4096,
		"":                           4096,
	} {
		if got := anthropic.DefaultMaxTokens(model); got != want {
			t.Errorf("DefaultMaxTokens(%q) = %d, want %d", model, got, want)
		}
	}
}
