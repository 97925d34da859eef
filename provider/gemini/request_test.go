package gemini

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest/geminitest"
)

func TestTranslateMessages(t *testing.T) {
	png := []byte{0x89, 'P', 'N', 'G'}
	tests := []struct {
		name string
		msgs []llm.Message
		want []*genai.Content
	}{
		{
			name: "text turns and roles",
			msgs: []llm.Message{llm.UserText("hi"), llm.AssistantText("hello"), llm.UserText("bye")},
			want: []*genai.Content{
				{Role: "user", Parts: []*genai.Part{{Text: "hi"}}},
				{Role: "model", Parts: []*genai.Part{{Text: "hello"}}},
				{Role: "user", Parts: []*genai.Part{{Text: "bye"}}},
			},
		},
		{
			name: "empty text parts are left out",
			msgs: []llm.Message{llm.User(llm.Text{}, llm.Text{Text: "x"})},
			want: []*genai.Content{{Role: "user", Parts: []*genai.Part{{Text: "x"}}}},
		},
		{
			name: "media inline and by URL",
			msgs: []llm.Message{llm.User(
				llm.Image{MediaType: "image/png", Data: png},
				llm.Image{URL: "https://example.com/a.jpg", MediaType: "image/jpeg"},
				llm.Document{MediaType: "application/pdf", Data: []byte("%PDF"), Title: "ignored"},
				llm.Document{MediaType: "text/plain", URL: "https://example.com/a.txt"},
			)},
			want: []*genai.Content{{Role: "user", Parts: []*genai.Part{
				{InlineData: &genai.Blob{MIMEType: "image/png", Data: png}},
				{FileData: &genai.FileData{FileURI: "https://example.com/a.jpg", MIMEType: "image/jpeg"}},
				{InlineData: &genai.Blob{MIMEType: "application/pdf", Data: []byte("%PDF")}},
				{FileData: &genai.FileData{FileURI: "https://example.com/a.txt", MIMEType: "text/plain"}},
			}}},
		},
		{
			name: "tool call round trip with a made-up id and a signature",
			msgs: []llm.Message{
				llm.UserText("weather?"),
				llm.Assistant(llm.ToolCall{ID: "gemini_call_0_abc", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`), Signature: "c2ln"}),
				llm.User(llm.ToolResult{CallID: "gemini_call_0_abc", Content: []llm.Part{llm.Text{Text: "sunny"}}}),
			},
			want: []*genai.Content{
				{Role: "user", Parts: []*genai.Part{{Text: "weather?"}}},
				{Role: "model", Parts: []*genai.Part{{
					FunctionCall:     &genai.FunctionCall{Name: "weather", Args: map[string]any{"city": "Oslo"}},
					ThoughtSignature: []byte("sig"),
				}}},
				{Role: "user", Parts: []*genai.Part{{
					FunctionResponse: &genai.FunctionResponse{Name: "weather", Response: map[string]any{"output": "sunny"}},
				}}},
			},
		},
		{
			name: "provider ids go back, names come from ToolResult.Name first",
			msgs: []llm.Message{
				llm.Assistant(llm.ToolCall{ID: "c1", Name: "a"}),
				llm.User(llm.ToolResult{CallID: "c1", Name: "b", IsError: true, Content: []llm.Part{llm.Text{Text: "boom"}}}),
			},
			want: []*genai.Content{
				{Role: "model", Parts: []*genai.Part{{FunctionCall: &genai.FunctionCall{ID: "c1", Name: "a", Args: map[string]any{}}}}},
				{Role: "user", Parts: []*genai.Part{{
					FunctionResponse: &genai.FunctionResponse{ID: "c1", Name: "b", Response: map[string]any{"error": "boom"}},
				}}},
			},
		},
		{
			name: "tool result with an image",
			msgs: []llm.Message{
				llm.Assistant(llm.ToolCall{ID: "c1", Name: "shot"}),
				llm.User(llm.ToolResult{CallID: "c1", Content: []llm.Part{llm.Text{Text: "here"}, llm.Image{MediaType: "image/png", Data: png}}}),
			},
			want: []*genai.Content{
				{Role: "model", Parts: []*genai.Part{{FunctionCall: &genai.FunctionCall{ID: "c1", Name: "shot", Args: map[string]any{}}}}},
				{Role: "user", Parts: []*genai.Part{{
					FunctionResponse: &genai.FunctionResponse{ID: "c1", Name: "shot", Response: map[string]any{"output": "here"},
						Parts: []*genai.FunctionResponsePart{{InlineData: &genai.FunctionResponseBlob{MIMEType: "image/png", Data: png}}}},
				}}},
			},
		},
		{
			name: "thinking, and a text signature folded back on its text",
			msgs: []llm.Message{
				llm.UserText("q"),
				llm.Assistant(llm.Thinking{Text: "hmm", Signature: "dDE="}, llm.Text{Text: "answer"}, llm.Thinking{Signature: "dDI="}),
			},
			want: []*genai.Content{
				{Role: "user", Parts: []*genai.Part{{Text: "q"}}},
				{Role: "model", Parts: []*genai.Part{
					{Text: "hmm", Thought: true, ThoughtSignature: []byte("t1")},
					{Text: "answer", ThoughtSignature: []byte("t2")},
				}},
			},
		},
		{
			name: "redacted thinking from another provider is dropped",
			msgs: []llm.Message{llm.Assistant(llm.Thinking{Redacted: "xxx"}, llm.Text{Text: "a"})},
			want: []*genai.Content{{Role: "model", Parts: []*genai.Part{{Text: "a"}}}},
		},
		{
			name: "cache breakpoints are ignored",
			msgs: []llm.Message{llm.User(llm.Text{Text: "big", Cache: &llm.CacheControl{TTL: llm.CacheTTL1h}})},
			want: []*genai.Content{{Role: "user", Parts: []*genai.Part{{Text: "big"}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := translate("gemini", &llm.Request{Messages: tt.msgs})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("contents (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTranslateConfig(t *testing.T) {
	user := []llm.Message{llm.UserText("hi")}
	schema := json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)
	tools := []llm.Tool{{Name: "weather", Description: "Weather.", InputSchema: schema}, {Name: "time"}}
	base := func(c genai.GenerateContentConfig) *genai.GenerateContentConfig {
		c.AutomaticContinuation = new(false)
		return &c
	}
	decls := []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{
		{Name: "weather", Description: "Weather.", ParametersJsonSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)},
		{Name: "time"},
	}}}
	tests := []struct {
		name string
		req  llm.Request
		want *genai.GenerateContentConfig
	}{
		{
			name: "defaults",
			req:  llm.Request{Messages: user},
			want: base(genai.GenerateContentConfig{}),
		},
		{
			name: "system and sampling",
			req: llm.Request{
				System:   []llm.Text{{Text: "Be brief."}, {Text: "Be kind.", Cache: &llm.CacheControl{}}},
				Messages: user, MaxTokens: 100, Temperature: llm.Float(0.5), TopP: llm.Float(0.25), TopK: 40,
				StopSequences: []string{"END"},
			},
			want: base(genai.GenerateContentConfig{
				SystemInstruction: &genai.Content{Role: "user", Parts: []*genai.Part{{Text: "Be brief."}, {Text: "Be kind."}}},
				MaxOutputTokens:   100, Temperature: new(float32(0.5)), TopP: new(float32(0.25)), TopK: new(float32(40)),
				StopSequences: []string{"END"},
			}),
		},
		{
			name: "thinking with a budget",
			req:  llm.Request{Messages: user, Thinking: &llm.ThinkingConfig{BudgetTokens: 2048}},
			want: base(genai.GenerateContentConfig{ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: true, ThinkingBudget: new(int32(2048))}}),
		},
		{
			name: "thinking with no budget is dynamic",
			req:  llm.Request{Messages: user, Thinking: &llm.ThinkingConfig{}},
			want: base(genai.GenerateContentConfig{ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: true, ThinkingBudget: new(int32(-1))}}),
		},
		{
			name: "structured output",
			req:  llm.Request{Messages: user, Output: &llm.OutputSchema{Schema: json.RawMessage("{\n \"type\": \"object\"\n}")}},
			want: base(genai.GenerateContentConfig{ResponseMIMEType: "application/json", ResponseJsonSchema: json.RawMessage(`{"type":"object"}`)}),
		},
		{
			name: "tools, model decides",
			req:  llm.Request{Messages: user, Tools: tools},
			want: base(genai.GenerateContentConfig{Tools: decls}),
		},
		{
			name: "tools, one call per turn is not expressible and left out",
			req:  llm.Request{Messages: user, Tools: tools, ParallelToolCalls: new(false)},
			want: base(genai.GenerateContentConfig{Tools: decls}),
		},
		{
			name: "tools, any",
			req:  llm.Request{Messages: user, Tools: tools, ToolChoice: llm.ToolChoice{Mode: llm.ToolAny}},
			want: base(genai.GenerateContentConfig{Tools: decls, ToolConfig: &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{Mode: "ANY"}}}),
		},
		{
			name: "tools, none",
			req:  llm.Request{Messages: user, Tools: tools, ToolChoice: llm.ToolChoice{Mode: llm.ToolNone}},
			want: base(genai.GenerateContentConfig{Tools: decls, ToolConfig: &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{Mode: "NONE"}}}),
		},
		{
			name: "tools, named",
			req:  llm.Request{Messages: user, Tools: tools, ToolChoice: llm.ToolChoice{Mode: llm.ToolNamed, Name: "time"}},
			want: base(genai.GenerateContentConfig{Tools: decls, ToolConfig: &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{
				Mode: "ANY", AllowedFunctionNames: []string{"time"}}}}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got, err := translate("gemini", &tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTopKOnTheWire checks that the SDK carries TopK into generationConfig.
func TestTopKOnTheWire(t *testing.T) {
	srv := geminitest.NewServer(t)
	m := New(Options{APIKey: "test-key", BaseURL: srv.URL}).Model("gemini-2.5-flash")
	if _, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}, TopK: 40}); err != nil {
		t.Fatal(err)
	}
	var body struct {
		GenerationConfig struct {
			TopK *float64 `json:"topK"`
		} `json:"generationConfig"`
	}
	if err := json.Unmarshal(srv.Requests()[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if k := body.GenerationConfig.TopK; k == nil || *k != 40 {
		t.Errorf("body: %s", srv.Requests()[0].Body)
	}
}

func TestTranslateRejects(t *testing.T) {
	user := llm.UserText("hi")
	tests := []struct {
		name  string
		req   llm.Request
		where string // must appear in the message
	}{
		{"no messages", llm.Request{}, "messages: at least one"},
		{"unknown role", llm.Request{Messages: []llm.Message{{Role: "system", Parts: []llm.Part{llm.Text{Text: "x"}}}}}, `messages[0]: unknown role "system"`},
		{"nothing to send", llm.Request{Messages: []llm.Message{llm.User(llm.Text{})}}, "messages[0]: message has no content"},
		{"image without data", llm.Request{Messages: []llm.Message{llm.User(llm.Text{Text: "a"}, llm.Image{MediaType: "image/png"})}}, "messages[0].parts[1]: image has neither data nor a URL"},
		{"inline image without type", llm.Request{Messages: []llm.Message{llm.User(llm.Image{Data: []byte{1}})}}, "messages[0].parts[0]: inline image needs a media type"},
		{"document with both", llm.Request{Messages: []llm.Message{llm.User(llm.Document{MediaType: "application/pdf", Data: []byte{1}, URL: "u"})}}, "messages[0].parts[0]: document has both"},
		{"bad tool input", llm.Request{Messages: []llm.Message{user, llm.Assistant(llm.ToolCall{ID: "1", Name: "f", Input: json.RawMessage(`{"a":`)})}}, `messages[1].parts[0]: tool call "f" input: not valid JSON`},
		{"tool input not an object", llm.Request{Messages: []llm.Message{user, llm.Assistant(llm.ToolCall{ID: "1", Name: "f", Input: json.RawMessage(`[1]`)})}}, "want a JSON object, got an array"},
		{"tool call by the user", llm.Request{Messages: []llm.Message{llm.User(llm.ToolCall{ID: "1", Name: "f"})}}, "messages[0].parts[0]: tool call in a message with role user"},
		{"tool result by the model", llm.Request{Messages: []llm.Message{user, llm.Assistant(llm.ToolResult{CallID: "1", Name: "f"})}}, "messages[1].parts[0]: tool result in a message with role assistant"},
		{"orphan tool result", llm.Request{Messages: []llm.Message{llm.User(llm.ToolResult{CallID: "zz"})}}, `messages[0].parts[0]: tool result for call "zz": no Name`},
		{"tool result with a tool call inside", llm.Request{Messages: []llm.Message{llm.User(llm.ToolResult{CallID: "1", Name: "f", Content: []llm.Part{llm.ToolCall{}}})}}, "tool result content[0]: part type llm.ToolCall"},
		{"bad signature", llm.Request{Messages: []llm.Message{user, llm.Assistant(llm.Thinking{Text: "t", Signature: "not base64!"})}}, "messages[1].parts[0]: thinking: signature is not"},
		{"bad cache ttl", llm.Request{Messages: []llm.Message{llm.User(llm.Text{Text: "x", Cache: &llm.CacheControl{TTL: "2h"}})}}, `messages[0].parts[0]: cache TTL "2h"`},
		{"bad system cache ttl", llm.Request{System: []llm.Text{{Text: "s", Cache: &llm.CacheControl{TTL: "1d"}}}, Messages: []llm.Message{user}}, "system[0]: cache TTL"},
		{"negative max tokens", llm.Request{Messages: []llm.Message{user}, MaxTokens: -1}, "max tokens: -1"},
		{"negative top k", llm.Request{Messages: []llm.Message{user}, TopK: -1}, "top k: -1"},
		{"negative budget", llm.Request{Messages: []llm.Message{user}, Thinking: &llm.ThinkingConfig{BudgetTokens: -5}}, "thinking budget: -5"},
		{"bad output schema", llm.Request{Messages: []llm.Message{user}, Output: &llm.OutputSchema{Schema: json.RawMessage(`"x"`)}}, "output schema: want a JSON Schema object, got a string"},
		{"bad tool schema", llm.Request{Messages: []llm.Message{user}, Tools: []llm.Tool{{Name: "f", InputSchema: json.RawMessage(`{`)}}}, "tools[0] (f) input schema: not valid JSON"},
		{"nameless tool", llm.Request{Messages: []llm.Message{user}, Tools: []llm.Tool{{}}}, "tools[0]: name is empty"},
		{"duplicate tool", llm.Request{Messages: []llm.Message{user}, Tools: []llm.Tool{{Name: "f"}, {Name: "f"}}}, `tools[1]: duplicate tool name "f"`},
		{"any without tools", llm.Request{Messages: []llm.Message{user}, ToolChoice: llm.ToolChoice{Mode: llm.ToolAny}}, `tool choice "any": the request has no tools`},
		{"named tool missing", llm.Request{Messages: []llm.Message{user}, Tools: []llm.Tool{{Name: "f"}}, ToolChoice: llm.ToolChoice{Mode: llm.ToolNamed, Name: "g"}}, `tool "g" is not among`},
		{"unknown tool choice", llm.Request{Messages: []llm.Message{user}, ToolChoice: llm.ToolChoice{Mode: "sometimes"}}, `unknown mode "sometimes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := translate("gemini", &tt.req)
			e, ok := err.(*llm.Error)
			if !ok {
				t.Fatalf("err = %v (%T), want *llm.Error", err, err)
			}
			if e.Kind != llm.KindInvalidRequest || e.Provider != "gemini" {
				t.Errorf("kind, provider = %s, %s; want invalid_request, gemini", e.Kind, e.Provider)
			}
			if !strings.Contains(e.Message, tt.where) {
				t.Errorf("message %q does not contain %q", e.Message, tt.where)
			}
		})
	}
}

// TestTranslateLeavesRequestAlone checks the contract that models never
// modify the request, including the text-signature folding that edits the
// parts it builds.
func TestTranslateLeavesRequestAlone(t *testing.T) {
	req := &llm.Request{
		System: []llm.Text{{Text: "s"}},
		Messages: []llm.Message{
			llm.UserText("q"),
			llm.Assistant(llm.Text{Text: "a"}, llm.Thinking{Signature: "dDI="}, llm.ToolCall{ID: "c", Name: "f", Input: json.RawMessage(`{"x":1}`)}),
			llm.User(llm.ToolResult{CallID: "c", Content: []llm.Part{llm.Text{Text: "r"}}}),
		},
		Tools: []llm.Tool{{Name: "f", InputSchema: json.RawMessage(`{"type": "object"}`)}},
	}
	before := req.Clone()
	if _, _, err := translate("gemini", req); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, req); diff != "" {
		t.Errorf("request changed (-before +after):\n%s", diff)
	}
}

func TestSplitBaseURL(t *testing.T) {
	tests := []struct{ in, base, version string }{
		{"", DefaultBaseURL, "v1beta"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/", "v1beta"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/", "v1beta"},
		{"https://proxy.example.com/gemini/v1beta", "https://proxy.example.com/gemini/", "v1beta"},
		{"https://proxy.example.com/v1/", "https://proxy.example.com/", "v1"},
		{"https://proxy.example.com/v1alpha", "https://proxy.example.com/", "v1alpha"},
		{"https://proxy.example.com/gemini", "https://proxy.example.com/gemini/", "v1beta"},
	}
	for _, tt := range tests {
		base, version := SplitBaseURL(tt.in)
		if base != tt.base || version != tt.version {
			t.Errorf("SplitBaseURL(%q) = %q, %q; want %q, %q", tt.in, base, version, tt.base, tt.version)
		}
	}
}
