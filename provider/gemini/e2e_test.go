package gemini_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/geminitest"
	"github.com/keelai/keel/provider/gemini"
)

const testKey = "test-key"

func newModel(srv *geminitest.Server) *gemini.Model {
	return gemini.New(gemini.Options{APIKey: testKey, BaseURL: srv.URL}).Model("gemini-2.5-flash")
}

func hi() *llm.Request { return &llm.Request{Messages: []llm.Message{llm.UserText("Hi")}} }

// collect drains a stream into its events and its error.
func collect(stream func(func(llm.Event, error) bool)) ([]llm.Event, error) {
	var evs []llm.Event
	for ev, err := range stream {
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// done returns the response of a stream's final event, failing the test if
// the stream did not end with usage then done.
func done(t *testing.T, evs []llm.Event) *llm.Response {
	t.Helper()
	n := len(evs)
	if n < 2 || evs[n-2].Kind != llm.EventUsage || evs[n-1].Kind != llm.EventDone {
		t.Fatalf("stream did not end with usage, done: %v", kinds(evs))
	}
	if diff := cmp.Diff(evs[n-1].Response.Usage, *evs[n-2].Usage); diff != "" {
		t.Errorf("usage event differs from the response's usage:\n%s", diff)
	}
	return evs[n-1].Response
}

func kinds(evs []llm.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Kind.String())
	}
	return out
}

// body decodes the JSON of the i-th recorded request.
func body(t *testing.T, srv *geminitest.Server, i int) map[string]any {
	t.Helper()
	reqs := srv.Requests()
	if len(reqs) <= i {
		t.Fatalf("%d requests recorded, want more than %d", len(reqs), i)
	}
	var m map[string]any
	if err := json.Unmarshal(reqs[i].Body, &m); err != nil {
		t.Fatalf("request %d body: %v", i, err)
	}
	return m
}

// jsonOf decodes a JSON literal for comparison with a recorded body.
func jsonOf(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad literal %s: %v", s, err)
	}
	return v
}

var ignoreLatency = cmpopts.IgnoreFields(llm.Response{}, "Latency")

func TestGenerateAndStreamAgree(t *testing.T) {
	tests := []struct {
		name string
		resp *llm.Response
	}{
		{"text", &llm.Response{ID: "resp-1", Content: []llm.Part{llm.Text{Text: "Hello, world! How are you?"}},
			StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 12, OutputTokens: 7}}},
		{"cached prompt", &llm.Response{ID: "resp-2", Content: []llm.Part{llm.Text{Text: "Cached."}},
			StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 40, CacheReadTokens: 2048, OutputTokens: 2}}},
		{"thinking, text and a tool call", &llm.Response{ID: "resp-3", Content: []llm.Part{
			llm.Thinking{Text: "The user wants the weather.", Signature: "dGhvdWdodA=="},
			llm.Text{Text: "Let me check."},
			llm.ToolCall{ID: "fc_1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo","days":3}`), Signature: "Y2FsbA=="},
		}, StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 100, CacheReadTokens: 50, OutputTokens: 30}}},
		{"cut by max tokens", &llm.Response{ID: "resp-4", Content: []llm.Part{llm.Text{Text: "A long"}},
			StopReason: llm.StopMaxTokens, Usage: llm.Usage{InputTokens: 3, OutputTokens: 2}}},
		{"refused", &llm.Response{ID: "resp-5", Content: []llm.Part{llm.Text{Text: "I can't"}},
			StopReason: llm.StopRefusal, Usage: llm.Usage{InputTokens: 3, OutputTokens: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := geminitest.NewServer(t)
			m := newModel(srv)
			srv.Enqueue(llmtest.WireReply{Response: tt.resp}, llmtest.WireReply{Response: tt.resp})

			got, err := m.Generate(t.Context(), hi())
			if err != nil {
				t.Fatal(err)
			}
			want := *tt.resp
			want.Model = "gemini/gemini-2.5-flash"
			if diff := cmp.Diff(&want, got, ignoreLatency); diff != "" {
				t.Errorf("Generate (-want +got):\n%s", diff)
			}
			if got.Latency <= 0 {
				t.Errorf("latency = %v", got.Latency)
			}

			evs, err := collect(m.Stream(t.Context(), hi()))
			if err != nil {
				t.Fatal(err)
			}
			streamed := done(t, evs)
			if diff := cmp.Diff(got, streamed, ignoreLatency); diff != "" {
				t.Errorf("Stream differs from Generate (-generate +stream):\n%s", diff)
			}

			reqs := srv.Requests()
			if reqs[0].Path != "/v1beta/models/gemini-2.5-flash:generateContent" ||
				reqs[1].Path != "/v1beta/models/gemini-2.5-flash:streamGenerateContent" || reqs[1].Query != "alt=sse" {
				t.Errorf("paths = %s, %s?%s", reqs[0].Path, reqs[1].Path, reqs[1].Query)
			}
			if k := reqs[0].Header.Get("x-goog-api-key"); k != testKey {
				t.Errorf("api key header = %q", k)
			}
		})
	}
}

func TestStreamEvents(t *testing.T) {
	srv := geminitest.NewServer(t)
	srv.Enqueue(llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{
		llm.Text{Text: "One two three"},
		llm.ToolCall{Name: "f", Input: json.RawMessage(`{"x":1}`)},
	}, StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 1, OutputTokens: 4}}})
	evs, err := collect(newModel(srv).Stream(t.Context(), hi()))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"text", "text", "text", "tool_call_start", "tool_call_delta", "tool_call_end", "usage", "done"}
	if diff := cmp.Diff(want, kinds(evs)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	var deltas []string
	for _, ev := range evs[:3] {
		deltas = append(deltas, ev.Text)
	}
	if diff := cmp.Diff([]string{"One ", "two ", "three"}, deltas); diff != "" {
		t.Errorf("text deltas (-want +got):\n%s", diff)
	}
	end := evs[5].ToolCall
	if end == nil || end.Name != "f" || string(end.Input) != `{"x":1}` || !strings.HasPrefix(end.ID, "gemini_call_1_") {
		t.Errorf("tool call end = %+v, want the whole call with a made-up id", end)
	}
}

func TestRequestOnTheWire(t *testing.T) {
	srv := geminitest.NewServer(t)
	m := newModel(srv)
	req := &llm.Request{
		System: []llm.Text{{Text: "You are terse.", Cache: &llm.CacheControl{}}},
		Messages: []llm.Message{
			llm.User(
				llm.Text{Text: "What is in these?", Cache: &llm.CacheControl{TTL: llm.CacheTTL1h}},
				llm.Image{MediaType: "image/png", Data: []byte("PNG")},
				llm.Image{URL: "https://example.com/cat.jpg", MediaType: "image/jpeg"},
				llm.Document{MediaType: "application/pdf", Data: []byte("%PDF"), Title: "Spec"},
			),
			llm.AssistantText("A cat and a spec."),
			llm.UserText("Thanks."),
		},
		Tools: []llm.Tool{{Name: "weather", Description: "Weather for a city.",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
			Cache:       &llm.CacheControl{}}},
		ToolChoice:    llm.ToolChoice{Mode: llm.ToolNamed, Name: "weather"},
		MaxTokens:     256,
		Temperature:   llm.Float(0.5),
		TopP:          llm.Float(0.75),
		StopSequences: []string{"END"},
		Thinking:      &llm.ThinkingConfig{BudgetTokens: 1024},
		Output:        &llm.OutputSchema{Schema: json.RawMessage(`{"type":"object"}`)},
		Tags:          map[string]string{"prompt": "p@1"},
	}
	if _, err := m.Generate(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	// Cache markers and tags do not reach the wire: Gemini has no inline
	// cache control, and tags are never sent.
	want := jsonOf(t, `{
		"systemInstruction": {"role": "user", "parts": [{"text": "You are terse."}]},
		"contents": [
			{"role": "user", "parts": [
				{"text": "What is in these?"},
				{"inlineData": {"mimeType": "image/png", "data": "UE5H"}},
				{"fileData": {"fileUri": "https://example.com/cat.jpg", "mimeType": "image/jpeg"}},
				{"inlineData": {"mimeType": "application/pdf", "data": "JVBERg=="}}
			]},
			{"role": "model", "parts": [{"text": "A cat and a spec."}]},
			{"role": "user", "parts": [{"text": "Thanks."}]}
		],
		"tools": [{"functionDeclarations": [{"name": "weather", "description": "Weather for a city.",
			"parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}],
		"toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}},
		"generationConfig": {
			"maxOutputTokens": 256, "temperature": 0.5, "topP": 0.75, "stopSequences": ["END"],
			"thinkingConfig": {"includeThoughts": true, "thinkingBudget": 1024},
			"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}
		}
	}`)
	if diff := cmp.Diff(want, any(body(t, srv, 0))); diff != "" {
		t.Errorf("request body (-want +got):\n%s", diff)
	}
}

func TestToolRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name     string
		apiID    string // the id the API gives the call; "" like Gemini 2.5
		streamed bool
	}{
		{"no id, generate", "", false},
		{"no id, stream", "", true},
		{"api id, generate", "fc_77", false},
		{"api id, stream", "fc_77", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := geminitest.NewServer(t)
			m := newModel(srv)
			srv.Enqueue(
				llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{
					llm.Text{Text: "Checking."},
					llm.ToolCall{ID: tt.apiID, Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`), Signature: "c2lnLWNhbGw="},
				}, StopReason: llm.StopToolUse}},
				llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "14°C in Oslo."}}, StopReason: llm.StopEndTurn}},
			)
			tools := []llm.Tool{{Name: "weather", InputSchema: json.RawMessage(`{"type":"object"}`)}}
			req := &llm.Request{Messages: []llm.Message{llm.UserText("Weather in Oslo?")}, Tools: tools}
			call := func(req *llm.Request) *llm.Response {
				t.Helper()
				if !tt.streamed {
					resp, err := m.Generate(t.Context(), req)
					if err != nil {
						t.Fatal(err)
					}
					return resp
				}
				evs, err := collect(m.Stream(t.Context(), req))
				if err != nil {
					t.Fatal(err)
				}
				return done(t, evs)
			}
			first := call(req)
			if first.StopReason != llm.StopToolUse || len(first.ToolCalls()) != 1 {
				t.Fatalf("first answer: stop %s, calls %v", first.StopReason, first.ToolCalls())
			}
			tc := first.ToolCalls()[0]
			if tt.apiID != "" && tc.ID != tt.apiID || tt.apiID == "" && !strings.HasPrefix(tc.ID, "gemini_call_") {
				t.Errorf("call id = %q", tc.ID)
			}
			if tc.Signature != "c2lnLWNhbGw=" || string(tc.Input) != `{"city":"Oslo"}` {
				t.Errorf("call = %+v", tc)
			}
			// The tool result names no function: the adapter finds it from
			// the call with the same id.
			req.Messages = append(req.Messages, first.Message(),
				llm.User(llm.ToolResult{CallID: tc.ID, Content: []llm.Part{llm.Text{Text: "14°C"}}}))
			if got := call(req).Text(); got != "14°C in Oslo." {
				t.Errorf("second answer = %q", got)
			}
			idField := ""
			if tt.apiID != "" {
				idField = `"id": "fc_77",`
			}
			want := jsonOf(t, `[
				{"role": "user", "parts": [{"text": "Weather in Oslo?"}]},
				{"role": "model", "parts": [
					{"text": "Checking."},
					{"functionCall": {`+idField+` "name": "weather", "args": {"city": "Oslo"}}, "thoughtSignature": "c2lnLWNhbGw="}
				]},
				{"role": "user", "parts": [
					{"functionResponse": {`+idField+` "name": "weather", "response": {"output": "14°C"}}}
				]}
			]`)
			if diff := cmp.Diff(want, body(t, srv, 1)["contents"]); diff != "" {
				t.Errorf("second request contents (-want +got):\n%s", diff)
			}
		})
	}
}

func TestThinkingRoundTrip(t *testing.T) {
	for _, streamed := range []bool{false, true} {
		t.Run(fmt.Sprintf("streamed=%v", streamed), func(t *testing.T) {
			srv := geminitest.NewServer(t)
			m := newModel(srv)
			answer := &llm.Response{Content: []llm.Part{
				llm.Thinking{Text: "Sky scatters blue light.", Signature: "dGhvdWdodC1zaWc="},
				llm.Text{Text: "Rayleigh scattering."},
				llm.Thinking{Signature: "dGV4dC1zaWc="}, // a signature Gemini put on the text part
			}, StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 8, OutputTokens: 12}}
			srv.Enqueue(llmtest.WireReply{Response: answer})
			req := &llm.Request{Messages: []llm.Message{llm.UserText("Why is the sky blue?")}, Thinking: &llm.ThinkingConfig{BudgetTokens: 512}}
			var resp *llm.Response
			if streamed {
				evs, err := collect(m.Stream(t.Context(), req))
				if err != nil {
					t.Fatal(err)
				}
				resp = done(t, evs)
			} else {
				var err error
				if resp, err = m.Generate(t.Context(), req); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(answer.Content, resp.Content); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
			if resp.Usage.OutputTokens != 12 {
				t.Errorf("output tokens = %d, want 12 (answer + thoughts)", resp.Usage.OutputTokens)
			}
			req.Messages = append(req.Messages, resp.Message(), llm.UserText("And at sunset?"))
			if _, err := m.Generate(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			want := jsonOf(t, `{"role": "model", "parts": [
				{"text": "Sky scatters blue light.", "thought": true, "thoughtSignature": "dGhvdWdodC1zaWc="},
				{"text": "Rayleigh scattering.", "thoughtSignature": "dGV4dC1zaWc="}
			]}`)
			if diff := cmp.Diff(want, body(t, srv, 1)["contents"].([]any)[1]); diff != "" {
				t.Errorf("model turn sent back (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	key := "AIzaSyD-this-is-a-secret-key-0123456789"
	tests := []struct {
		name   string
		fault  llmtest.Fault
		kind   llm.ErrorKind
		retry  time.Duration
		reqID  string
		should *bool
	}{
		{name: "400", fault: llmtest.Fault{Status: 400}, kind: llm.KindInvalidRequest},
		{name: "400 context length", fault: llmtest.Fault{Status: 400, Body: geminitest.ErrorBody(400, "INVALID_ARGUMENT",
			"The input token count (2000000) exceeds the maximum number of tokens allowed (1048576).")}, kind: llm.KindContextLength},
		{name: "400 invalid key", fault: llmtest.Fault{Status: 400, Body: geminitest.ErrorBody(400, "INVALID_ARGUMENT",
			"API key not valid. Please pass a valid API key. "+key,
			map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"})}, kind: llm.KindAuth},
		{name: "403", fault: llmtest.Fault{Status: 403}, kind: llm.KindPermission},
		{name: "404", fault: llmtest.Fault{Status: 404}, kind: llm.KindNotFound},
		{name: "429 retry-after", fault: llmtest.Fault{Status: 429, Header: http.Header{"Retry-After": {"7"}}}, kind: llm.KindRateLimited, retry: 7 * time.Second},
		{name: "429 retry-after-ms", fault: llmtest.Fault{Status: 429, Header: http.Header{"Retry-After-Ms": {"250"}}}, kind: llm.KindRateLimited, retry: 250 * time.Millisecond},
		{name: "429 RetryInfo", fault: llmtest.Fault{Status: 429, Body: geminitest.ErrorBody(429, "RESOURCE_EXHAUSTED", "Quota exceeded.",
			map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"})}, kind: llm.KindRateLimited, retry: 37 * time.Second},
		{name: "500 with request id", fault: llmtest.Fault{Status: 500, Header: http.Header{"X-Goog-Request-Id": {"goog-123"}}}, kind: llm.KindServer, reqID: "goog-123"},
		{name: "503", fault: llmtest.Fault{Status: 503, Header: http.Header{"X-Should-Retry": {"false"}}}, kind: llm.KindOverloaded, should: new(false)},
		{name: "504", fault: llmtest.Fault{Status: 504}, kind: llm.KindTimeout},
	}
	for _, tt := range tests {
		for _, streamed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s streamed=%v", tt.name, streamed), func(t *testing.T) {
				srv := geminitest.NewServer(t)
				m := newModel(srv)
				srv.Enqueue(llmtest.WireReply{Fault: tt.fault})
				var err error
				if streamed {
					var evs []llm.Event
					evs, err = collect(m.Stream(t.Context(), hi()))
					if len(evs) != 0 {
						t.Errorf("events before the error: %v", kinds(evs))
					}
				} else {
					_, err = m.Generate(t.Context(), hi())
				}
				e, ok := errors.AsType[*llm.Error](err)
				if !ok {
					t.Fatalf("err = %v (%T), want *llm.Error", err, err)
				}
				if e.Kind != tt.kind || e.Status != tt.fault.Status || e.RetryAfter != tt.retry || e.RequestID != tt.reqID || e.Provider != "gemini" {
					t.Errorf("got kind %s, status %d, retry %v, request id %q, provider %s; want %s, %d, %v, %q",
						e.Kind, e.Status, e.RetryAfter, e.RequestID, e.Provider, tt.kind, tt.fault.Status, tt.retry, tt.reqID)
				}
				if diff := cmp.Diff(tt.should, e.ShouldRetry); diff != "" {
					t.Errorf("ShouldRetry (-want +got):\n%s", diff)
				}
				if strings.Contains(err.Error(), key) {
					t.Errorf("the error shows the API key: %v", err)
				}
				if n := len(srv.Requests()); n != 1 {
					t.Errorf("%d requests sent, want 1: the SDK must not retry", n)
				}
			})
		}
	}
}

func TestMissingKey(t *testing.T) {
	// A key in the environment must not stand in for the missing one.
	t.Setenv("GEMINI_API_KEY", "AIzaSyEnvironment-key-that-must-not-leak")
	t.Setenv("GOOGLE_API_KEY", "AIzaSyEnvironment-key-that-must-not-leak")
	srv := geminitest.NewServer(t)
	m := gemini.New(gemini.Options{BaseURL: srv.URL}).Model("gemini-2.5-flash")
	_, err := m.Generate(t.Context(), hi())
	if e, ok := errors.AsType[*llm.Error](err); !ok || e.Kind != llm.KindAuth || e.Status != 403 {
		t.Fatalf("err = %v, want auth (HTTP 403)", err)
	}
	if _, err := m.CountTokens(t.Context(), hi()); llm.KindOf(err) != llm.KindAuth {
		t.Errorf("CountTokens err = %v, want auth", err)
	}
	for _, r := range srv.Requests() {
		if k := r.Header.Get("x-goog-api-key"); k != "" {
			t.Errorf("request sent with key %q", k)
		}
	}
}

// recordingTransport refuses every request, recording where it was going.
type recordingTransport struct {
	mu   sync.Mutex
	urls []string
	keys []string
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.urls = append(rt.urls, r.URL.String())
	rt.keys = append(rt.keys, r.Header.Get("x-goog-api-key"))
	return nil, errors.New("offline")
}

func TestEnvironmentIgnored(t *testing.T) {
	srv := geminitest.NewServer(t)
	decoy := geminitest.NewServer(t)
	t.Setenv("GOOGLE_GEMINI_BASE_URL", decoy.URL)
	t.Setenv("GOOGLE_API_KEY", "AIzaSyEnvironment-key-0000000000000")
	t.Setenv("GEMINI_API_KEY", "AIzaSyEnvironment-key-1111111111111")
	t.Setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
	t.Setenv("GOOGLE_CLOUD_PROJECT", "decoy-project")
	t.Setenv("GOOGLE_CLOUD_LOCATION", "us-central1")

	if _, err := newModel(srv).Generate(t.Context(), hi()); err != nil {
		t.Fatal(err)
	}
	if k := srv.Requests()[0].Header.Get("x-goog-api-key"); k != testKey {
		t.Errorf("key sent = %q, want the configured one", k)
	}

	// With no base URL the adapter goes to Google's endpoint, not to the
	// one in GOOGLE_GEMINI_BASE_URL. The transport refuses, so nothing
	// leaves the machine.
	rt := &recordingTransport{}
	m := gemini.New(gemini.Options{APIKey: testKey, HTTPClient: &http.Client{Transport: rt}}).Model("gemini-2.5-flash")
	_, err := m.Generate(t.Context(), hi())
	if llm.KindOf(err) != llm.KindNetwork {
		t.Errorf("err = %v, want network", err)
	}
	if len(decoy.Requests()) != 0 {
		t.Error("GOOGLE_GEMINI_BASE_URL redirected the adapter")
	}
	want := []string{"https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"}
	if diff := cmp.Diff(want, rt.urls); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{testKey}, rt.keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
}

func TestBaseURLWithVersion(t *testing.T) {
	srv := geminitest.NewServer(t)
	m := gemini.New(gemini.Options{APIKey: testKey, BaseURL: srv.URL + "/v1beta/"}).Model("gemini-2.5-flash")
	if _, err := m.Generate(t.Context(), hi()); err != nil {
		t.Fatal(err)
	}
	if p := srv.Requests()[0].Path; p != "/v1beta/models/gemini-2.5-flash:generateContent" {
		t.Errorf("path = %s", p)
	}
}

func TestDroppedConnection(t *testing.T) {
	resp := &llm.Response{Content: []llm.Part{llm.Text{Text: "one two three four five"}}, StopReason: llm.StopEndTurn}
	t.Run("stream", func(t *testing.T) {
		srv := geminitest.NewServer(t)
		srv.Enqueue(llmtest.WireReply{Response: resp, Fault: llmtest.Fault{Drop: true, DropAfter: 2}})
		evs, err := collect(newModel(srv).Stream(t.Context(), hi()))
		if diff := cmp.Diff([]string{"text", "text"}, kinds(evs)); diff != "" {
			t.Errorf("events before the cut (-want +got):\n%s", diff)
		}
		if llm.KindOf(err) != llm.KindNetwork || !errors.Is(err, llm.ErrIncomplete) {
			t.Errorf("err = %v, want a network error wrapping ErrIncomplete", err)
		}
	})
	t.Run("stream cut before its first chunk", func(t *testing.T) {
		// One request only: retrying is Keel's middleware's job. (genai's
		// automatic continuation, which the adapter turns off, reconnects
		// only after a continuationToken, which the emulator never sends;
		// TestTranslateConfig checks that it is off.)
		srv := geminitest.NewServer(t)
		srv.Enqueue(llmtest.WireReply{Response: resp, Fault: llmtest.Fault{Drop: true}})
		evs, err := collect(newModel(srv).Stream(t.Context(), hi()))
		if len(evs) != 0 || llm.KindOf(err) != llm.KindNetwork || !errors.Is(err, llm.ErrIncomplete) {
			t.Errorf("Stream = %v, %v; want no events and a network error wrapping ErrIncomplete", kinds(evs), err)
		}
		if n := len(srv.Requests()); n != 1 {
			t.Errorf("%d requests sent, want 1", n)
		}
	})
	t.Run("generate", func(t *testing.T) {
		srv := geminitest.NewServer(t)
		srv.Enqueue(llmtest.WireReply{Response: resp, Fault: llmtest.Fault{Drop: true}})
		if _, err := newModel(srv).Generate(t.Context(), hi()); llm.KindOf(err) != llm.KindNetwork {
			t.Errorf("err = %v, want network", err)
		}
	})
}

// TestStreamWithoutFinishReason serves a stream that ends cleanly but never
// says it is finished: the SDK sees success; the adapter must not.
func TestStreamWithoutFinishReason(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Partial"}]},"index":0}],"responseId":"r"}`+"\r\n\r\n")
	}))
	defer ts.Close()
	m := gemini.New(gemini.Options{APIKey: testKey, BaseURL: ts.URL}).Model("gemini-2.5-flash")
	evs, err := collect(m.Stream(t.Context(), hi()))
	if diff := cmp.Diff([]string{"text"}, kinds(evs)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if llm.KindOf(err) != llm.KindNetwork || !errors.Is(err, llm.ErrIncomplete) {
		t.Errorf("err = %v, want a network error wrapping ErrIncomplete", err)
	}
}

func TestMalformed(t *testing.T) {
	resp := &llm.Response{Content: []llm.Part{llm.Text{Text: "one two three"}}, StopReason: llm.StopEndTurn}
	t.Run("stream", func(t *testing.T) {
		srv := geminitest.NewServer(t)
		srv.Enqueue(llmtest.WireReply{Response: resp, Fault: llmtest.Fault{Malformed: true, MalformedAfter: 1}})
		evs, err := collect(newModel(srv).Stream(t.Context(), hi()))
		if diff := cmp.Diff([]string{"text"}, kinds(evs)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if llm.KindOf(err) != llm.KindServer {
			t.Errorf("err = %v, want server (malformed)", err)
		}
	})
	t.Run("generate", func(t *testing.T) {
		srv := geminitest.NewServer(t)
		srv.Enqueue(llmtest.WireReply{Response: resp, Fault: llmtest.Fault{Malformed: true}})
		if _, err := newModel(srv).Generate(t.Context(), hi()); llm.KindOf(err) != llm.KindServer {
			t.Errorf("err = %v, want server (malformed)", err)
		}
	})
}

func TestStreamErrorEvent(t *testing.T) {
	srv := geminitest.NewServer(t)
	srv.Enqueue(geminitest.StreamError(&llm.Response{Content: []llm.Part{llm.Text{Text: "one two three"}}}, 2, 503, "The model is overloaded."))
	evs, err := collect(newModel(srv).Stream(t.Context(), hi()))
	if diff := cmp.Diff([]string{"text", "text"}, kinds(evs)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	e, ok := errors.AsType[*llm.Error](err)
	if !ok || e.Kind != llm.KindOverloaded || e.Status != 503 || e.Message != "The model is overloaded." {
		t.Errorf("err = %v, want overloaded (HTTP 503) with the API's message", err)
	}
}

func TestBlockedPrompt(t *testing.T) {
	blocked := &llm.Response{StopReason: llm.StopRefusal}
	srv := geminitest.NewServer(t)
	m := newModel(srv)
	srv.Enqueue(llmtest.WireReply{Response: blocked}, llmtest.WireReply{Response: blocked})
	if _, err := m.Generate(t.Context(), hi()); llm.KindOf(err) != llm.KindContentFilter {
		t.Errorf("Generate err = %v, want content_filter", err)
	}
	evs, err := collect(m.Stream(t.Context(), hi()))
	if len(evs) != 0 || llm.KindOf(err) != llm.KindContentFilter {
		t.Errorf("Stream = %v, %v; want no events and content_filter", kinds(evs), err)
	}
}

// hangingServer sends one chunk, then holds the stream open until the
// client goes away, and closes gone when it has.
func hangingServer(t *testing.T) (url string, gone <-chan struct{}) {
	ch := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}]}`+"\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(ch)
	}))
	t.Cleanup(ts.Close)
	return ts.URL, ch
}

func TestCancelMidStream(t *testing.T) {
	url, gone := hangingServer(t)
	m := gemini.New(gemini.Options{APIKey: testKey, BaseURL: url}).Model("gemini-2.5-flash")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var evs []llm.Event
	var err error
	for ev, e := range m.Stream(ctx, hi()) {
		if e != nil {
			err = e
			break
		}
		evs = append(evs, ev)
		cancel()
	}
	if diff := cmp.Diff([]string{"text"}, kinds(evs)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if llm.KindOf(err) != llm.KindCanceled {
		t.Errorf("err = %v, want canceled", err)
	}
	<-gone // the upstream request has ended; a leak would hang here
}

func TestEarlyBreak(t *testing.T) {
	url, gone := hangingServer(t)
	m := gemini.New(gemini.Options{APIKey: testKey, BaseURL: url}).Model("gemini-2.5-flash")
	for ev, err := range m.Stream(t.Context(), hi()) {
		if err != nil || ev.Text != "Hel" {
			t.Fatalf("first = %+v, %v", ev, err)
		}
		break
	}
	<-gone // leaving the loop closed the upstream request
}

func TestCountTokens(t *testing.T) {
	srv := geminitest.NewServer(t)
	m := newModel(srv)
	n, err := m.CountTokens(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hello world!")}})
	if err != nil || n != 3 {
		t.Fatalf("CountTokens = %d, %v; want 3 (12 bytes of text)", n, err)
	}
	if _, ok := body(t, srv, 0)["contents"]; !ok {
		t.Errorf("a plain request is counted as contents: %s", srv.Requests()[0].Body)
	}

	// System and tools count too, through a whole generateContentRequest.
	req := &llm.Request{
		System:   []llm.Text{{Text: "You are a weather bot with a long system prompt."}},
		Messages: []llm.Message{llm.UserText("Weather?")},
		Tools:    []llm.Tool{{Name: "weather", InputSchema: json.RawMessage(`{"type":"object"}`)}},
	}
	full, err := m.CountTokens(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	gcr, ok := body(t, srv, 1)["generateContentRequest"].(map[string]any)
	if !ok || gcr["model"] != "models/gemini-2.5-flash" || gcr["systemInstruction"] == nil || gcr["tools"] == nil {
		t.Errorf("count request = %s", srv.Requests()[1].Body)
	}
	// The emulator counts an echoed answer's input the same way.
	resp, err := m.Generate(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if full != resp.Usage.InputTokens || full <= 2 {
		t.Errorf("CountTokens = %d, echoed input tokens = %d", full, resp.Usage.InputTokens)
	}
	if _, err := m.CountTokens(t.Context(), &llm.Request{}); llm.KindOf(err) != llm.KindInvalidRequest {
		t.Errorf("empty request: err = %v, want invalid_request", err)
	}
}

func TestInvalidRequestSendsNothing(t *testing.T) {
	srv := geminitest.NewServer(t)
	m := newModel(srv)
	bad := &llm.Request{Messages: []llm.Message{llm.User(llm.Image{})}}
	if _, err := m.Generate(t.Context(), bad); llm.KindOf(err) != llm.KindInvalidRequest {
		t.Errorf("Generate err = %v", err)
	}
	if _, err := collect(m.Stream(t.Context(), bad)); llm.KindOf(err) != llm.KindInvalidRequest {
		t.Errorf("Stream err = %v", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestConcurrentCalls(t *testing.T) {
	srv := geminitest.NewServer(t)
	m := newModel(srv)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			text := fmt.Sprintf("message %d", i)
			req := &llm.Request{Messages: []llm.Message{llm.UserText(text)}}
			var resp *llm.Response
			var err error
			if i%2 == 0 {
				resp, err = m.Generate(t.Context(), req)
			} else {
				resp, err = llm.Collect(m.Stream(t.Context(), req))
			}
			if err == nil && resp.Text() != text {
				err = fmt.Errorf("got %q back for %q", resp.Text(), text)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
}

func TestName(t *testing.T) {
	if n := gemini.New(gemini.Options{Name: "vertexish"}).Model("gemini-2.5-pro").Name(); n != "vertexish/gemini-2.5-pro" {
		t.Errorf("Name = %q", n)
	}
	if n := gemini.New(gemini.Options{}).Model("gemini-2.5-pro").Name(); n != "gemini/gemini-2.5-pro" {
		t.Errorf("Name = %q", n)
	}
}
