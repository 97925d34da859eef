package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/provider/openai"
)

var ignoreLatency = cmpopts.IgnoreFields(llm.Response{}, "Latency")

// both sends req with Generate and with Stream (the emulator holding reply
// for each) and checks that both give want, and that the stream ends with
// the usage then the done event.
func both(t *testing.T, e *env, req *llm.Request, reply *llm.Response, want *llm.Response) {
	t.Helper()
	e.srv.Enqueue(llmtest.WireReply{Response: reply}, llmtest.WireReply{Response: reply})

	got, err := e.m.Generate(t.Context(), req)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if diff := cmp.Diff(want, got, ignoreLatency); diff != "" {
		t.Errorf("Generate (-want +got):\n%s", diff)
	}
	if got.Latency <= 0 {
		t.Errorf("Generate latency = %v, want > 0", got.Latency)
	}

	evs, err := drain(e.m.Stream(t.Context(), req))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	n := len(evs)
	if n < 2 || evs[n-2].Kind != llm.EventUsage || evs[n-1].Kind != llm.EventDone {
		t.Fatalf("stream does not end with usage, done: %v", kinds(evs))
	}
	if diff := cmp.Diff(want.Usage, *evs[n-2].Usage); diff != "" {
		t.Errorf("stream usage event (-want +got):\n%s", diff)
	}
	streamed := evs[n-1].Response
	if diff := cmp.Diff(want, streamed, ignoreLatency); diff != "" {
		t.Errorf("Stream (-want +got):\n%s", diff)
	}
	if streamed.Latency <= 0 {
		t.Errorf("Stream latency = %v, want > 0", streamed.Latency)
	}
	if open := e.watch.open(); open != 0 {
		t.Errorf("%d response bodies left open", open)
	}
}

func kinds(evs []llm.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Kind.String())
	}
	return out
}

func TestEndToEnd(t *testing.T) {
	const name = "openai/gpt-4.1-mini"
	hello := llm.UserText("Hello")
	tests := []struct {
		name  string
		req   *llm.Request
		reply *llm.Response
		want  *llm.Response
		body  func(t *testing.T, body map[string]any) // checks the wire request
	}{{
		name:  "text",
		req:   &llm.Request{Messages: []llm.Message{hello}},
		reply: &llm.Response{ID: "chatcmpl-1", Content: []llm.Part{llm.Text{Text: "Hello there, world."}}, StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 12, OutputTokens: 4}},
		want:  &llm.Response{ID: "chatcmpl-1", Model: name, Content: []llm.Part{llm.Text{Text: "Hello there, world."}}, StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 12, OutputTokens: 4}},
		body: func(t *testing.T, body map[string]any) {
			if body["model"] != "gpt-4.1-mini" {
				t.Errorf("model = %v", body["model"])
			}
		},
	}, {
		name: "multi-turn with system",
		req: &llm.Request{
			System:   []llm.Text{{Text: "Be brief."}},
			Messages: []llm.Message{hello, llm.AssistantText("Hi."), llm.UserText("How are you?")},
		},
		reply: &llm.Response{ID: "c2", Content: []llm.Part{llm.Text{Text: "Fine."}}, StopReason: llm.StopEndTurn},
		want:  &llm.Response{ID: "c2", Model: name, Content: []llm.Part{llm.Text{Text: "Fine."}}, StopReason: llm.StopEndTurn},
		body: func(t *testing.T, body map[string]any) {
			var roles []string
			for _, m := range body["messages"].([]any) {
				roles = append(roles, m.(map[string]any)["role"].(string))
			}
			if diff := cmp.Diff([]string{"system", "user", "assistant", "user"}, roles); diff != "" {
				t.Errorf("roles (-want +got):\n%s", diff)
			}
		},
	}, {
		name:  "image",
		req:   &llm.Request{Messages: []llm.Message{llm.User(llm.Text{Text: "What is this?"}, llm.Image{MediaType: "image/png", Data: []byte("png!")})}},
		reply: &llm.Response{ID: "c3", Content: []llm.Part{llm.Text{Text: "A cat."}}, StopReason: llm.StopEndTurn},
		want:  &llm.Response{ID: "c3", Model: name, Content: []llm.Part{llm.Text{Text: "A cat."}}, StopReason: llm.StopEndTurn},
		body: func(t *testing.T, body map[string]any) {
			content := body["messages"].([]any)[0].(map[string]any)["content"].([]any)
			img := content[1].(map[string]any)["image_url"].(map[string]any)["url"]
			if img != "data:image/png;base64,cG5nIQ==" {
				t.Errorf("image url = %v", img)
			}
		},
	}, {
		name: "text then two tool calls",
		req:  &llm.Request{Messages: []llm.Message{hello}, Tools: []llm.Tool{{Name: "weather"}, {Name: "time"}}},
		reply: &llm.Response{ID: "c4", Content: []llm.Part{
			llm.Text{Text: "Let me check."},
			llm.ToolCall{ID: "call_w", Name: "weather", Input: json.RawMessage(`{"city":"Paris","units":"metric","note":"ünïcode ✓"}`)},
			llm.ToolCall{ID: "call_t", Name: "time", Input: json.RawMessage(`{}`)},
		}, StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 30, OutputTokens: 20}},
		want: &llm.Response{ID: "c4", Model: name, Content: []llm.Part{
			llm.Text{Text: "Let me check."},
			llm.ToolCall{ID: "call_w", Name: "weather", Input: json.RawMessage(`{"city":"Paris","units":"metric","note":"ünïcode ✓"}`)},
			llm.ToolCall{ID: "call_t", Name: "time", Input: json.RawMessage(`{}`)},
		}, StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 30, OutputTokens: 20}},
	}, {
		name:  "reasoning_content becomes thinking",
		req:   &llm.Request{Messages: []llm.Message{hello}},
		reply: &llm.Response{ID: "c5", Content: []llm.Part{llm.Thinking{Text: "The user greets me."}, llm.Text{Text: "Hi!"}}, StopReason: llm.StopEndTurn},
		want:  &llm.Response{ID: "c5", Model: name, Content: []llm.Part{llm.Thinking{Text: "The user greets me."}, llm.Text{Text: "Hi!"}}, StopReason: llm.StopEndTurn},
	}, {
		name:  "usage with cache reads and writes, same on both paths",
		req:   &llm.Request{Messages: []llm.Message{hello}},
		reply: &llm.Response{ID: "c6", Content: []llm.Part{llm.Text{Text: "ok"}}, StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 100, OutputTokens: 7, CacheReadTokens: 1024, CacheWriteTokens: 300}},
		want:  &llm.Response{ID: "c6", Model: name, Content: []llm.Part{llm.Text{Text: "ok"}}, StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 100, OutputTokens: 7, CacheReadTokens: 1024, CacheWriteTokens: 300}},
	}, {
		name:  "length",
		req:   &llm.Request{Messages: []llm.Message{hello}, MaxTokens: 2},
		reply: &llm.Response{ID: "c7", Content: []llm.Part{llm.Text{Text: "Once upon"}}, StopReason: llm.StopMaxTokens},
		want:  &llm.Response{ID: "c7", Model: name, Content: []llm.Part{llm.Text{Text: "Once upon"}}, StopReason: llm.StopMaxTokens},
		body: func(t *testing.T, body map[string]any) {
			if body["max_tokens"] != float64(2) || body["max_completion_tokens"] != nil {
				t.Errorf("compatible server got max_tokens %v, max_completion_tokens %v", body["max_tokens"], body["max_completion_tokens"])
			}
		},
	}, {
		name:  "content filter",
		req:   &llm.Request{Messages: []llm.Message{hello}},
		reply: &llm.Response{ID: "c8", Content: []llm.Part{llm.Text{Text: "I can't"}}, StopReason: llm.StopRefusal},
		want:  &llm.Response{ID: "c8", Model: name, Content: []llm.Part{llm.Text{Text: "I can't"}}, StopReason: llm.StopRefusal},
	}, {
		name:  "unknown finish reason",
		req:   &llm.Request{Messages: []llm.Message{hello}},
		reply: &llm.Response{ID: "c9", Content: []llm.Part{llm.Text{Text: "x"}}, StopReason: llm.StopPauseTurn},
		want:  &llm.Response{ID: "c9", Model: name, Content: []llm.Part{llm.Text{Text: "x"}}, StopReason: llm.StopUnknown},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, false)
			both(t, e, tt.req, tt.reply, tt.want)
			if tt.body != nil {
				tt.body(t, e.body(t, 0))
				tt.body(t, e.body(t, 1))
			}
			if s := e.body(t, 1); s["stream"] != true || s["stream_options"].(map[string]any)["include_usage"] != true {
				t.Errorf("stream request lacks stream / include_usage: %v", s)
			}
		})
	}
}

func TestToolRoundTrip(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "generate", true: "stream"}[stream], func(t *testing.T) {
			e := setup(t, false)
			e.srv.Enqueue(
				llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{
					llm.ToolCall{ID: "call_1", Name: "weather", Input: json.RawMessage(`{"city":"Paris"}`)},
				}, StopReason: llm.StopToolUse}},
				llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "Sunny in Paris."}}, StopReason: llm.StopEndTurn}},
			)
			call := func(req *llm.Request) *llm.Response {
				var resp *llm.Response
				var err error
				if stream {
					resp, err = llm.Collect(e.m.Stream(t.Context(), req))
				} else {
					resp, err = e.m.Generate(t.Context(), req)
				}
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}
			req := &llm.Request{Messages: []llm.Message{llm.UserText("Weather in Paris?")}, Tools: []llm.Tool{{Name: "weather", InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}}}
			first := call(req)
			calls := first.ToolCalls()
			if first.StopReason != llm.StopToolUse || len(calls) != 1 || string(calls[0].Input) != `{"city":"Paris"}` {
				t.Fatalf("first answer = %+v", first)
			}
			req.Messages = append(req.Messages, first.Message(), llm.User(llm.ToolResult{CallID: calls[0].ID, Content: []llm.Part{llm.Text{Text: "sunny"}}}))
			if got := call(req).Text(); got != "Sunny in Paris." {
				t.Errorf("second answer = %q", got)
			}
			msgs := e.body(t, 1)["messages"].([]any)
			want := []any{
				map[string]any{"role": "user", "content": "Weather in Paris?"},
				map[string]any{"role": "assistant", "tool_calls": []any{map[string]any{
					"id": "call_1", "type": "function", "function": map[string]any{"name": "weather", "arguments": `{"city":"Paris"}`},
				}}},
				map[string]any{"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
			}
			if diff := cmp.Diff(want, msgs); diff != "" {
				t.Errorf("second request messages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestThinkingIsNotSentBack(t *testing.T) {
	e := setup(t, false)
	e.srv.Enqueue(llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Thinking{Text: "secret reasoning"}, llm.Text{Text: "42"}}, StopReason: llm.StopEndTurn}})
	req := &llm.Request{Messages: []llm.Message{llm.UserText("Answer?")}}
	first, err := llm.Collect(e.m.Stream(t.Context(), req))
	if err != nil {
		t.Fatal(err)
	}
	if th, ok := first.Content[0].(llm.Thinking); !ok || th.Text != "secret reasoning" {
		t.Fatalf("first part = %#v, want the thinking", first.Content[0])
	}
	req.Messages = append(req.Messages, first.Message(), llm.UserText("Why?"))
	if _, err := e.m.Generate(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	body := string(e.srv.Requests()[1].Body)
	if strings.Contains(body, "secret reasoning") || strings.Contains(body, "reasoning_content") {
		t.Errorf("thinking was sent back: %s", body)
	}
	msgs := e.body(t, 1)["messages"].([]any)
	if diff := cmp.Diff(map[string]any{"role": "assistant", "content": "42"}, msgs[1]); diff != "" {
		t.Errorf("assistant turn (-want +got):\n%s", diff)
	}
}

func TestOpenAIGetsBreakpointsAndMaxCompletionTokens(t *testing.T) {
	req := &llm.Request{
		System:    []llm.Text{{Text: "Long instructions.", Cache: &llm.CacheControl{}}},
		Messages:  []llm.Message{llm.User(llm.Text{Text: "A long document.", Cache: &llm.CacheControl{TTL: llm.CacheTTL1h}}, llm.Text{Text: "Question?"})},
		MaxTokens: 50,
	}
	for _, official := range []bool{true, false} {
		t.Run(map[bool]string{true: "openai", false: "compatible"}[official], func(t *testing.T) {
			e := setup(t, official)
			if _, err := e.m.Generate(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			if _, err := llm.Collect(e.m.Stream(t.Context(), req)); err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				body := e.body(t, i)
				raw := string(e.srv.Requests()[i].Body)
				gotBreakpoints := strings.Count(raw, `"prompt_cache_breakpoint"`)
				so, _ := body["stream_options"].(map[string]any)
				if got, sent := so["include_obfuscation"]; i == 1 && (sent != official || (sent && got != false)) {
					t.Errorf("stream_options = %v; include_obfuscation false goes to OpenAI only", so)
				}
				if official {
					if gotBreakpoints != 2 || !strings.Contains(raw, `"ttl":"12h"`) || body["max_completion_tokens"] != float64(50) || body["max_tokens"] != nil {
						t.Errorf("request %d to OpenAI: %s", i, raw)
					}
				} else if gotBreakpoints != 0 || body["max_tokens"] != float64(50) {
					t.Errorf("request %d to a compatible server: %s", i, raw)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	no := false
	tests := []struct {
		name  string
		fault llmtest.Fault
		want  llm.Error // Kind, Status, RetryAfter, RequestID, ShouldRetry are compared
		msg   string    // a fragment of the message
	}{
		{"bad request", llmtest.Fault{Status: 400}, llm.Error{Kind: llm.KindInvalidRequest, Status: 400}, "Invalid request."},
		{"context length by code", llmtest.Fault{Status: 400, Body: openaitest.ErrorBody("Input is too big.", "invalid_request_error", "context_length_exceeded")},
			llm.Error{Kind: llm.KindContextLength, Status: 400}, "too big"},
		{"content filter", llmtest.Fault{Status: 400, Body: openaitest.ErrorBody("The response was filtered.", "invalid_request_error", "content_filter")},
			llm.Error{Kind: llm.KindContentFilter, Status: 400}, "filtered"},
		{"auth", llmtest.Fault{Status: 401}, llm.Error{Kind: llm.KindAuth, Status: 401}, "Incorrect API key"},
		{"permission", llmtest.Fault{Status: 403}, llm.Error{Kind: llm.KindPermission, Status: 403}, "not allowed"},
		{"not found", llmtest.Fault{Status: 404}, llm.Error{Kind: llm.KindNotFound, Status: 404}, "does not exist"},
		{"conflict", llmtest.Fault{Status: 409}, llm.Error{Kind: llm.KindServer, Status: 409}, "Conflict"},
		{"rate limit, retry-after-ms", llmtest.Fault{Status: 429, Header: hdr("retry-after-ms", "1500", "x-request-id", "req_abc")},
			llm.Error{Kind: llm.KindRateLimited, Status: 429, RetryAfter: 1500 * time.Millisecond, RequestID: "req_abc"}, "Rate limit"},
		{"rate limit, retry-after seconds", llmtest.Fault{Status: 429, Header: hdr("retry-after", "7")},
			llm.Error{Kind: llm.KindRateLimited, Status: 429, RetryAfter: 7 * time.Second}, "Rate limit"},
		{"quota is not retryable", llmtest.Fault{Status: 429, Body: openaitest.ErrorBody("You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", "insufficient_quota")},
			llm.Error{Kind: llm.KindRateLimited, Status: 429, ShouldRetry: &no}, "quota"},
		{"server", llmtest.Fault{Status: 500, Header: hdr("x-should-retry", "false")}, llm.Error{Kind: llm.KindServer, Status: 500, ShouldRetry: &no}, "server had an error"},
		{"overloaded", llmtest.Fault{Status: 503}, llm.Error{Kind: llm.KindOverloaded, Status: 503}, "overloaded"},
		{"timeout status", llmtest.Fault{Status: 504}, llm.Error{Kind: llm.KindTimeout, Status: 504}, "Gateway Timeout"},
		{"non-JSON body from a proxy", llmtest.Fault{Status: 502, Body: "<html>Bad Gateway</html>"}, llm.Error{Kind: llm.KindServer, Status: 502}, "Bad Gateway"},
		{"vLLM detail body", llmtest.Fault{Status: 400, Body: `{"detail":"maximum context length is 4096 tokens"}`}, llm.Error{Kind: llm.KindContextLength, Status: 400}, "4096"},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(tt.name+map[bool]string{false: "/generate", true: "/stream"}[stream], func(t *testing.T) {
				e := setup(t, false)
				e.srv.Enqueue(llmtest.WireReply{Fault: tt.fault})
				req := &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}
				var err error
				if stream {
					var evs []llm.Event
					evs, err = drain(e.m.Stream(t.Context(), req))
					if len(evs) != 0 {
						t.Errorf("events before the error: %v", kinds(evs))
					}
				} else {
					_, err = e.m.Generate(t.Context(), req)
				}
				got := asError(t, err)
				if got.Provider != "openai" {
					t.Errorf("provider = %q", got.Provider)
				}
				if !strings.Contains(got.Message, tt.msg) {
					t.Errorf("message %q does not contain %q", got.Message, tt.msg)
				}
				want := tt.want
				if want.RequestID == "" {
					if !strings.HasPrefix(got.RequestID, "req_") {
						t.Errorf("request id = %q, want the emulator's", got.RequestID)
					}
					want.RequestID = got.RequestID
				}
				opts := cmpopts.IgnoreFields(llm.Error{}, "Provider", "Message", "Err")
				if diff := cmp.Diff(want, *got, opts); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				if len(e.srv.Requests()) != 1 {
					t.Errorf("%d requests sent, want 1 (the SDK must not retry)", len(e.srv.Requests()))
				}
			})
		}
	}
}

func TestSecretsStayOut(t *testing.T) {
	e := setup(t, false)
	const wrong = "sk-wrong-key-7f3a9c2e51d04b68"
	m := openai.New(openai.Options{APIKey: wrong, BaseURL: e.srv.URL}).Model("gpt-4.1-mini")
	e.srv.RequireAPIKey(testKey)
	for _, stream := range []bool{false, true} {
		var err error
		if stream {
			_, err = llm.Collect(m.Stream(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}))
		} else {
			_, err = m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}})
		}
		got := asError(t, err)
		if got.Kind != llm.KindAuth || got.Status != 401 {
			t.Errorf("error = %v, want auth 401", got)
		}
		if strings.Contains(err.Error(), "7f3a9c2e51d04b68") || strings.Contains(err.Error(), wrong) {
			t.Errorf("error leaks the key: %v", err)
		}
	}
	// No key at all: OpenAI's own 401.
	none := openai.New(openai.Options{BaseURL: e.srv.URL}).Model("gpt-4.1-mini")
	_, err := none.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}})
	if got := asError(t, err); got.Kind != llm.KindAuth || !strings.Contains(got.Message, "didn't provide an API key") {
		t.Errorf("without a key: %v", err)
	}
}

func TestStreamCut(t *testing.T) {
	// "one two" streams as: role, "one ", "two", finish, usage, [DONE].
	reply := &llm.Response{Content: []llm.Part{llm.Text{Text: "one two"}}, StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 1, OutputTokens: 2}}
	tests := []struct {
		name   string
		fault  llmtest.Fault
		kind   llm.ErrorKind
		cutOff bool // the error wraps llm.ErrIncomplete
	}{
		{"dropped after two events", llmtest.Fault{Drop: true, DropAfter: 2}, llm.KindNetwork, true},
		{"dropped before [DONE]", llmtest.Fault{Drop: true, DropAfter: 5}, llm.KindNetwork, true},
		{"dropped before anything", llmtest.Fault{Drop: true, DropAfter: 0}, llm.KindNetwork, true},
		{"malformed event", llmtest.Fault{Malformed: true, MalformedAfter: 2}, llm.KindServer, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, false)
			e.srv.Enqueue(llmtest.WireReply{Response: reply, Fault: tt.fault})
			evs, err := drain(e.m.Stream(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}))
			got := asError(t, err)
			if got.Kind != tt.kind || errors.Is(err, llm.ErrIncomplete) != tt.cutOff {
				t.Errorf("error = %v (kind %s, incomplete %v), want kind %s, incomplete %v", err, got.Kind, errors.Is(err, llm.ErrIncomplete), tt.kind, tt.cutOff)
			}
			for _, ev := range evs {
				if ev.Kind == llm.EventDone {
					t.Errorf("a cut stream reported done: %v", kinds(evs))
				}
			}
			if open := e.watch.open(); open != 0 {
				t.Errorf("%d response bodies left open", open)
			}
		})
	}
}

func TestErrorEventMidStream(t *testing.T) {
	tests := []struct {
		name string
		body string
		kind llm.ErrorKind
	}{
		{"server error", "", llm.KindServer},
		{"rate limit", openaitest.ErrorBody("Rate limit reached", "requests", "rate_limit_exceeded"), llm.KindRateLimited},
		{"context length", openaitest.ErrorBody("This model's maximum context length is 8192 tokens.", "invalid_request_error", ""), llm.KindContextLength},
		{"llama.cpp status code", `{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}`, llm.KindOverloaded},
		{"plain string", `{"error":"out of memory"}`, llm.KindServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, false)
			e.srv.EnqueueStreamError(&llm.Response{Content: []llm.Part{llm.Text{Text: "partial answer"}}}, 2, tt.body)
			evs, err := drain(e.m.Stream(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}))
			got := asError(t, err)
			if got.Kind != tt.kind {
				t.Errorf("kind = %s, want %s (%v)", got.Kind, tt.kind, err)
			}
			if len(evs) != 1 || evs[0].Text != "partial " {
				t.Errorf("events before the error = %+v, want the first text delta", evs)
			}
		})
	}
}

func TestCancelMidStream(t *testing.T) {
	e := setup(t, false)
	long := strings.Repeat("word ", 500)
	// A slow stream: without cancellation it would take 500 × 20ms.
	e.srv.Enqueue(llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: long}}}, Fault: llmtest.Fault{Drip: 20 * time.Millisecond}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var texts int
	var err error
	for ev, e := range e.m.Stream(ctx, &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}) {
		if e != nil {
			err = e
			break
		}
		if ev.Kind == llm.EventText {
			texts++
			cancel()
		}
	}
	if got := asError(t, err); got.Kind != llm.KindCanceled || !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want canceled", err)
	}
	if texts == 0 || texts >= 500 {
		t.Errorf("%d text events, want some but not all", texts)
	}
	if open := e.watch.open(); open != 0 {
		t.Errorf("%d response bodies left open after cancel", open)
	}
}

func TestEarlyBreakClosesStream(t *testing.T) {
	e := setup(t, false)
	e.srv.Enqueue(llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: strings.Repeat("word ", 100)}}}, Fault: llmtest.Fault{Drip: time.Millisecond}})
	for ev, err := range e.m.Stream(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == llm.EventText {
			break
		}
	}
	if open := e.watch.open(); open != 0 {
		t.Errorf("%d response bodies left open after break", open)
	}
}

func TestCanceledBeforeStart(t *testing.T) {
	e := setup(t, false)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := e.m.Generate(ctx, &llm.Request{Messages: []llm.Message{llm.UserText("hi")}})
	if got := asError(t, err); got.Kind != llm.KindCanceled {
		t.Errorf("Generate: %v, want canceled", err)
	}
	_, err = llm.Collect(e.m.Stream(ctx, &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}))
	if got := asError(t, err); got.Kind != llm.KindCanceled {
		t.Errorf("Stream: %v, want canceled", err)
	}
}

func TestDeadline(t *testing.T) {
	e := setup(t, false)
	e.srv.Enqueue(llmtest.WireReply{Fault: llmtest.Fault{Latency: time.Minute}})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := e.m.Generate(ctx, &llm.Request{Messages: []llm.Message{llm.UserText("hi")}})
	if got := asError(t, err); got.Kind != llm.KindTimeout {
		t.Errorf("error = %v, want timeout", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := openaitest.Start()
	base := srv.URL
	srv.Close() // nothing listens there any more
	m := openai.New(openai.Options{APIKey: testKey, BaseURL: base}).Model("m")
	_, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}})
	if got := asError(t, err); got.Kind != llm.KindNetwork {
		t.Errorf("error = %v, want network", err)
	}
}

func TestEnvironmentIsIgnored(t *testing.T) {
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/bogus")
	t.Setenv("OPENAI_API_KEY", "sk-from-the-environment-0000")
	t.Setenv("OPENAI_ORG_ID", "org-env")
	t.Setenv("OPENAI_CUSTOM_HEADERS", "X-Env: yes")

	e := setup(t, false)
	if _, err := e.m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}); err != nil {
		t.Fatalf("Generate went elsewhere: %v", err)
	}
	h := e.srv.Requests()[0].Header
	if got := h.Get("Authorization"); got != "Bearer "+testKey {
		t.Errorf("Authorization = %q, want the configured key", got)
	}
	if h.Get("OpenAI-Organization") != "" || h.Get("X-Env") != "" {
		t.Errorf("environment leaked into headers: %v", h)
	}

	// No key configured (a local server): no Authorization at all, not
	// the environment's key.
	e.srv.SetCompat(openaitest.Compat{NoAuth: true})
	local := openai.New(openai.Options{Name: "ollama", BaseURL: e.srv.URL}).Model("llama3.2")
	if _, err := local.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Requests()[1].Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q, want none", got)
	}
}

func TestNoSDKRetries(t *testing.T) {
	e := setup(t, false)
	e.srv.Enqueue(
		llmtest.WireReply{Fault: llmtest.Fault{Status: 500, Header: http.Header{"X-Should-Retry": {"true"}}}},
		llmtest.WireReply{Fault: llmtest.Fault{Status: 429, Header: http.Header{"Retry-After-Ms": {"1"}}}},
	)
	req := &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}
	if _, err := e.m.Generate(t.Context(), req); llm.KindOf(err) != llm.KindServer {
		t.Errorf("first: %v", err)
	}
	if _, err := llm.Collect(e.m.Stream(t.Context(), req)); llm.KindOf(err) != llm.KindRateLimited {
		t.Errorf("second: %v", err)
	}
	if n := len(e.srv.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestCompatibleServer(t *testing.T) {
	e := setup(t, false)
	e.srv.SetCompat(openaitest.Compat{NoAuth: true, NoUsage: true, NoIDs: true, EmptyDeltas: true, InterleaveToolCalls: true})
	m := openai.New(openai.Options{Name: "ollama", BaseURL: e.srv.URL}).Model("qwen3")
	reply := &llm.Response{Content: []llm.Part{
		llm.Thinking{Text: "Two lookups."},
		llm.Text{Text: "Checking both."},
		llm.ToolCall{Name: "weather", Input: json.RawMessage(`{"city":"Paris","days":3}`)},
		llm.ToolCall{Name: "weather", Input: json.RawMessage(`{"city":"Lyon","days":1}`)},
	}, StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 50, OutputTokens: 20}}
	e.srv.Enqueue(llmtest.WireReply{Response: reply}, llmtest.WireReply{Response: reply})
	req := &llm.Request{Messages: []llm.Message{llm.UserText("Paris and Lyon?")}}

	gen, err := m.Generate(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	str, err := llm.Collect(m.Stream(t.Context(), req))
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]*llm.Response{"generate": gen, "stream": str} {
		calls := got.ToolCalls()
		if len(calls) != 2 || calls[0].ID == "" || calls[1].ID == "" || calls[0].ID == calls[1].ID {
			t.Fatalf("%s: calls = %+v, want two with distinct made-up ids", name, calls)
		}
		for i := range calls {
			calls[i].ID = ""
		}
		want := &llm.Response{Model: "ollama/qwen3", Content: []llm.Part{
			llm.Thinking{Text: "Two lookups."},
			llm.Text{Text: "Checking both."},
			calls[0], calls[1],
		}, StopReason: llm.StopToolUse}
		got.Content = append(got.Content[:2], calls[0], calls[1])
		if diff := cmp.Diff(want, got, ignoreLatency); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
		if string(calls[0].Input) != `{"city":"Paris","days":3}` || string(calls[1].Input) != `{"city":"Lyon","days":1}` {
			t.Errorf("%s: interleaved arguments assembled wrong: %s, %s", name, calls[0].Input, calls[1].Input)
		}
	}
	if got := e.srv.Requests()[0].Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q, want none for a keyless provider", got)
	}
}

func TestEchoWithoutScript(t *testing.T) {
	e := setup(t, false)
	got, err := llm.Collect(e.m.Stream(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("ping pong")}}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Text() != "ping pong" || got.StopReason != llm.StopEndTurn || got.Usage.OutputTokens != 2 || got.ID == "" {
		t.Errorf("echo = %+v", got)
	}
}

func TestInvalidRequestIsNotSent(t *testing.T) {
	e := setup(t, false)
	bad := &llm.Request{Messages: []llm.Message{llm.User(llm.Image{})}}
	if _, err := e.m.Generate(t.Context(), bad); llm.KindOf(err) != llm.KindInvalidRequest {
		t.Errorf("Generate: %v", err)
	}
	if _, err := llm.Collect(e.m.Stream(t.Context(), bad)); llm.KindOf(err) != llm.KindInvalidRequest {
		t.Errorf("Stream: %v", err)
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

func TestName(t *testing.T) {
	tests := []struct {
		opts openai.Options
		want string
	}{
		{openai.Options{}, "openai/gpt-4.1"},
		{openai.Options{Name: "groq", BaseURL: "https://api.groq.com/openai/v1"}, "groq/gpt-4.1"},
	}
	for _, tt := range tests {
		if got := openai.New(tt.opts).Model("gpt-4.1").Name(); got != tt.want {
			t.Errorf("Name() = %q, want %q", got, tt.want)
		}
	}
}

func TestBadBaseURL(t *testing.T) {
	for _, base := range []string{"http://}:11434/v1", "localhost:11434", "ftp://host/v1", "http:///v1"} {
		m := openai.New(openai.Options{BaseURL: base}).Model("m")
		_, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}})
		if got := asError(t, err); got.Kind != llm.KindInvalidRequest || !strings.Contains(got.Message, "base URL") {
			t.Errorf("base %q: %v, want an invalid request naming the base URL", base, err)
		}
		if _, err := llm.Collect(m.Stream(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}})); llm.KindOf(err) != llm.KindInvalidRequest {
			t.Errorf("base %q: Stream: %v", base, err)
		}
	}
}
