package anthropictest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
)

const minimal = `{"model":"claude-sonnet-4-6","max_tokens":100,"messages":[{"role":"user","content":"hello there"}]}`

// post sends body to path with the headers the API needs, less those
// named in drop, plus extra.
func post(t *testing.T, srv *anthropictest.Server, path, body string, drop []string, extra ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", "sk-ant-test")
	req.Header.Set("anthropic-version", "2026-10-21")
	req.Header.Set("content-type", "application/json")
	for _, h := range drop {
		req.Header.Del(h)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}

// TestRejections checks the API's own checks, their status and error
// body, and that a rejected request is recorded but takes no reply.
func TestRejections(t *testing.T) {
	tests := []struct {
		name, path, body string
		drop             []string
		extra            []string
		status           int
		want             string
	}{
		{"no key", "/v1/messages", minimal, []string{"x-api-key"}, nil, 401,
			`{"type":"error","error":{"type":"authentication_error","message":"x-api-key header is required"}}`},
		{"no version", "/v1/messages", minimal, []string{"anthropic-version"}, nil, 400,
			`{"type":"error","error":{"type":"invalid_request_error","message":"anthropic-version: header is required"}}`},
		{"not JSON", "/v1/messages", `{"model":`, nil, nil, 400, ""},
		{"no model", "/v1/messages", `{"max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, nil, nil, 400,
			`{"type":"error","error":{"type":"invalid_request_error","message":"model: Field required"}}`},
		{"no max_tokens", "/v1/messages", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, nil, nil, 400,
			`{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`},
		{"no messages", "/v1/messages", `{"model":"m","max_tokens":1,"messages":[]}`, nil, nil, 400,
			`{"type":"error","error":{"type":"invalid_request_error","message":"messages: Field required"}}`},
		{"bad role", "/v1/messages", `{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]}`, nil, nil, 400,
			`{"type":"error","error":{"type":"invalid_request_error","message":"messages.0.role: Input should be 'user' or 'assistant'"}}`},
		{"temperature on 2026-10-21", "/v1/messages", `{"model":"m","max_tokens":1,"temperature":1,"messages":[{"role":"user","content":"x"}]}`, nil, nil, 400,
			`{"type":"error","error":{"type":"invalid_request_error","message":"temperature: Extra inputs are not permitted"}}`},
		{"top_k on 2026-10-21", "/v1/messages", `{"model":"m","max_tokens":1,"top_k":5,"messages":[{"role":"user","content":"x"}]}`, nil, nil, 400,
			`{"type":"error","error":{"type":"invalid_request_error","message":"top_k: Extra inputs are not permitted"}}`},
		{"unknown path", "/v1/complete", minimal, nil, nil, 404,
			`{"type":"error","error":{"type":"not_found_error","message":"Not found"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := anthropictest.NewServer(t)
			srv.Enqueue(llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "scripted"}}}})
			resp, body := post(t, srv, tc.path, tc.body, tc.drop, tc.extra...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			got := decode(t, body).(map[string]any)
			if id, _ := got["request_id"].(string); id == "" || id != resp.Header.Get("request-id") {
				t.Errorf("request_id %q, header %q", id, resp.Header.Get("request-id"))
			}
			delete(got, "request_id")
			if tc.want != "" {
				if diff := cmp.Diff(decode(t, []byte(tc.want)), any(got)); diff != "" {
					t.Errorf("error body (-want +got):\n%s", diff)
				}
			} else if got["type"] != "error" {
				t.Errorf("body %s", body)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("%d requests recorded, want 1", n)
			}
			// The scripted reply is still there for the next good request.
			_, body = post(t, srv, "/v1/messages", minimal, nil)
			if !strings.Contains(string(body), "scripted") {
				t.Errorf("the scripted reply was consumed by the rejected request: %s", body)
			}
		})
	}
}

func TestAcceptedCredentialsAndVersions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		drop  []string
		extra []string
	}{
		{"bearer", minimal, []string{"x-api-key"}, []string{"Authorization", "Bearer sk-ant-test"}},
		{"temperature on 2023-06-01", `{"model":"m","max_tokens":1,"temperature":0.5,"messages":[{"role":"user","content":"x"}]}`, nil, []string{"anthropic-version", "2023-06-01"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := anthropictest.NewServer(t)
			if resp, body := post(t, srv, "/v1/messages", tc.body, tc.drop, tc.extra...); resp.StatusCode != 200 {
				t.Errorf("status %d: %s", resp.StatusCode, body)
			}
		})
	}
}

// TestJSONShape checks a non-streamed answer field by field.
func TestJSONShape(t *testing.T) {
	srv := anthropictest.NewServer(t)
	srv.Enqueue(llmtest.WireReply{Response: &llm.Response{
		ID: "msg_abc",
		Content: []llm.Part{
			llm.Thinking{Text: "hmm", Signature: "c2ln"},
			llm.Thinking{Redacted: "cmVk"},
			llm.Text{Text: "Hi"},
			llm.ToolCall{ID: "toolu_1", Name: "f", Input: json.RawMessage(`{ "a" : 1 }`)},
			llm.Image{URL: "https://ignored"},
		},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 1, OutputTokens: 2, CacheReadTokens: 3, CacheWriteTokens: 4, CacheWrite1hTokens: 5},
	}})
	resp, body := post(t, srv, "/v1/messages", minimal, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	want := `{"id":"msg_abc","type":"message","role":"assistant","model":"claude-sonnet-4-6",
		"content":[
			{"type":"thinking","thinking":"hmm","signature":"c2ln"},
			{"type":"redacted_thinking","data":"cmVk"},
			{"type":"text","text":"Hi"},
			{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}],
		"stop_reason":"tool_use","stop_sequence":null,
		"usage":{"input_tokens":1,"output_tokens":2,"cache_read_input_tokens":3,"cache_creation_input_tokens":9,
			"cache_creation":{"ephemeral_5m_input_tokens":4,"ephemeral_1h_input_tokens":5},"service_tier":"standard"}}`
	if diff := cmp.Diff(decode(t, []byte(want)), decode(t, body)); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
}

type sseEvent struct {
	name string
	data map[string]any
}

func readSSE(t *testing.T, body []byte) []sseEvent {
	t.Helper()
	var evs []sseEvent
	var name string
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var d map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d); err != nil {
				t.Fatalf("event %s: %v", name, err)
			}
			if d["type"] != name {
				t.Errorf("event %q carries type %v", name, d["type"])
			}
			evs = append(evs, sseEvent{name, d})
		}
	}
	return evs
}

// TestStreamShape checks the event order and contents the API sends.
func TestStreamShape(t *testing.T) {
	srv := anthropictest.NewServer(t)
	srv.Enqueue(llmtest.WireReply{Response: &llm.Response{
		ID: "msg_s",
		Content: []llm.Part{
			llm.Thinking{Text: "a b", Signature: "c2ln"},
			llm.Text{Text: "Hi there"},
			llm.ToolCall{ID: "toolu_1", Name: "f", Input: json.RawMessage(`{"city":"Zürich"}`)},
		},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 10, OutputTokens: 20, CacheReadTokens: 30, CacheWriteTokens: 40, CacheWrite1hTokens: 50},
	}})
	resp, body := post(t, srv, "/v1/messages", strings.Replace(minimal, `{"model"`, `{"stream":true,"model"`, 1), nil)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	evs := readSSE(t, body)
	var names []string
	for _, e := range evs {
		names = append(names, e.name)
	}
	want := []string{
		"message_start",
		"content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop",
		"message_delta", "message_stop",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("event order (-want +got):\n%s", diff)
	}
	startUsage := evs[0].data["message"].(map[string]any)["usage"]
	wantStart := `{"input_tokens":10,"output_tokens":1,"cache_read_input_tokens":30,"cache_creation_input_tokens":90,
		"cache_creation":{"ephemeral_5m_input_tokens":40,"ephemeral_1h_input_tokens":50},"service_tier":"standard"}`
	if diff := cmp.Diff(decode(t, []byte(wantStart)), startUsage); diff != "" {
		t.Errorf("message_start usage (-want +got):\n%s", diff)
	}
	wantDelta := `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},
		"usage":{"input_tokens":10,"output_tokens":20,"cache_read_input_tokens":30,"cache_creation_input_tokens":90}}`
	if diff := cmp.Diff(decode(t, []byte(wantDelta)), any(evs[len(evs)-2].data)); diff != "" {
		t.Errorf("message_delta (-want +got):\n%s", diff)
	}
	var args strings.Builder
	for _, e := range evs[11:15] {
		if d, ok := e.data["delta"].(map[string]any); ok {
			args.WriteString(d["partial_json"].(string))
		}
	}
	if args.String() != `{"city":"Zürich"}` {
		t.Errorf("tool arguments streamed as %q", args.String())
	}
}

// TestOfficialSDK runs the emulator through anthropic-sdk-go itself: the
// SDK's own accumulation of the stream must equal its non-streamed message.
func TestOfficialSDK(t *testing.T) {
	srv := anthropictest.NewServer(t)
	client := sdk.NewClient(option.WithoutEnvironmentDefaults(), option.WithAPIKey("sk-ant-test"),
		option.WithBaseURL(srv.URL), option.WithMaxRetries(0))
	resp := &llm.Response{
		Content: []llm.Part{
			llm.Thinking{Text: "Let me think.", Signature: "c2lnbmF0dXJl"},
			llm.Text{Text: "Calling the tool."},
			llm.ToolCall{ID: "toolu_7", Name: "weather", Input: json.RawMessage(`{"city":"Oslo","days":[1,2]}`)},
		},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 11, OutputTokens: 22, CacheReadTokens: 33, CacheWriteTokens: 44},
	}
	srv.Enqueue(llmtest.WireReply{Response: resp}, llmtest.WireReply{Response: resp})
	params := sdk.MessageNewParams{Model: "claude-sonnet-4-6", MaxTokens: 100,
		Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("hi"))}}

	whole, err := client.Messages.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	stream := client.Messages.NewStreaming(t.Context(), params)
	defer stream.Close()
	var acc sdk.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	type view struct {
		Content                        []string
		StopReason                     string
		In, Out, Read, Create, Create5 int64
	}
	see := func(m *sdk.Message) view {
		v := view{StopReason: string(m.StopReason), In: m.Usage.InputTokens, Out: m.Usage.OutputTokens,
			Read: m.Usage.CacheReadInputTokens, Create: m.Usage.CacheCreationInputTokens, Create5: m.Usage.CacheCreation.Ephemeral5mInputTokens}
		for _, b := range m.Content {
			v.Content = append(v.Content, b.Type+"|"+b.Text+b.Thinking+b.Signature+b.ID+b.Name+string(b.Input))
		}
		return v
	}
	if diff := cmp.Diff(see(whole), see(&acc)); diff != "" {
		t.Errorf("streamed vs whole (-whole +streamed):\n%s", diff)
	}
	if see(whole).Content[2] != `tool_use|toolu_7weather{"city":"Oslo","days":[1,2]}` || whole.Usage.CacheCreationInputTokens != 44 {
		t.Errorf("whole message %+v", see(whole))
	}

	n, err := client.Messages.CountTokens(t.Context(), sdk.MessageCountTokensParams{Model: "m", Messages: params.Messages})
	if err != nil || n.InputTokens != 4 { // "hi" is one word, plus 3 for the message
		t.Errorf("count_tokens = %v, %v; want 4", n, err)
	}
}

func TestCountTokens(t *testing.T) {
	srv := anthropictest.NewServer(t)
	srv.Enqueue(llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "scripted"}}}})
	body := `{"model":"m","system":"You are terse.","messages":[
		{"role":"user","content":[{"type":"text","text":"one two three"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"aGVsbG8gd29ybGQ="}}]},
		{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{"q":"four five"}}]}],
		"tools":[{"name":"f","description":"Finds things.","input_schema":{"type":"object"}}]}`
	resp, b := post(t, srv, "/v1/messages/count_tokens", body, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	// system 3, text 3, tool input 2 + name 1, tool definition 1 + 2, messages 2×3.
	const want = 3 + 3 + 3 + 3 + 6
	if diff := cmp.Diff(decode(t, []byte(`{"input_tokens":18}`)), decode(t, b)); diff != "" || anthropictest.CountTokens([]byte(body)) != want {
		t.Errorf("count (-want +got):\n%s", diff)
	}
	if _, b := post(t, srv, "/v1/messages", minimal, nil); !strings.Contains(string(b), "scripted") {
		t.Errorf("count_tokens consumed the scripted reply: %s", b)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("%d requests recorded, want 2", n)
	}
}

func TestEcho(t *testing.T) {
	for _, tc := range []struct{ name, messages, want string }{
		{"string content", `[{"role":"user","content":"first"},{"role":"assistant","content":"ok"},{"role":"user","content":"second one"}]`, "second one"},
		{"blocks", `[{"role":"user","content":[{"type":"text","text":"a "},{"type":"image","source":{"type":"url","url":"u"}},{"type":"text","text":"b"}]}]`, "a b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := anthropictest.NewServer(t)
			resp, b := post(t, srv, "/v1/messages", `{"model":"m","max_tokens":5,"messages":`+tc.messages+`}`, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			var m struct {
				Content []struct{ Text string }
				Usage   struct {
					InputTokens int `json:"input_tokens"`
				}
			}
			json.Unmarshal(b, &m)
			if len(m.Content) != 1 || m.Content[0].Text != tc.want || m.Usage.InputTokens == 0 {
				t.Errorf("echo %s", b)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	t.Run("status with headers", func(t *testing.T) {
		srv := anthropictest.NewServer(t)
		srv.Enqueue(llmtest.WireReply{Fault: llmtest.Fault{Status: 429, Header: http.Header{
			"Retry-After": {"3"}, "Request-Id": {"req_mine"}, "X-Should-Retry": {"true"}}}})
		resp, b := post(t, srv, "/v1/messages", minimal, nil)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" || resp.Header.Values("Request-Id")[0] != "req_mine" ||
			len(resp.Header.Values("Request-Id")) != 1 || resp.Header.Get("X-Should-Retry") != "true" {
			t.Errorf("status %d, headers %v", resp.StatusCode, resp.Header)
		}
		got := decode(t, b).(map[string]any)["error"]
		want := decode(t, []byte(`{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit."}`))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
	})
	t.Run("stream error event", func(t *testing.T) {
		srv := anthropictest.NewServer(t)
		srv.Enqueue(anthropictest.StreamError(&llm.Response{Content: []llm.Part{llm.Text{Text: "a b c"}}}, 3, 529, "overloaded_error", "Overloaded"))
		resp, b := post(t, srv, "/v1/messages", strings.Replace(minimal, `{"model"`, `{"stream":true,"model"`, 1), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		evs := readSSE(t, b)
		var names []string
		for _, e := range evs {
			names = append(names, e.name)
		}
		if diff := cmp.Diff([]string{"message_start", "content_block_start", "ping", "error"}, names); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
	t.Run("stream error reply to a plain request", func(t *testing.T) {
		srv := anthropictest.NewServer(t)
		srv.Enqueue(anthropictest.StreamError(nil, 3, 529, "overloaded_error", "Overloaded"))
		if resp, b := post(t, srv, "/v1/messages", minimal, nil); resp.StatusCode != 529 || !strings.Contains(string(b), "overloaded_error") {
			t.Errorf("status %d: %s", resp.StatusCode, b)
		}
	})
	t.Run("drop a plain answer", func(t *testing.T) {
		srv := anthropictest.NewServer(t)
		srv.Enqueue(llmtest.WireReply{Fault: llmtest.Fault{Drop: true}})
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(minimal))
		req.Header.Set("x-api-key", "k")
		req.Header.Set("anthropic-version", "2026-10-21")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Error("reading a dropped body succeeded")
		}
	})
	t.Run("bad tool input in the script", func(t *testing.T) {
		srv := anthropictest.NewServer(t)
		srv.Enqueue(llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.ToolCall{ID: "t", Name: "f", Input: json.RawMessage(`{`)}}}})
		if resp, b := post(t, srv, "/v1/messages", minimal, nil); resp.StatusCode != 500 || !strings.Contains(string(b), "emulator") {
			t.Errorf("status %d: %s", resp.StatusCode, b)
		}
	})
}
