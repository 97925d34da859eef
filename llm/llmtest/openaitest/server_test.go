package openaitest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
)

// post sends a raw request and returns the status, headers and body.
func post(t *testing.T, url, key, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

func errorOf(t *testing.T, body string) map[string]any {
	t.Helper()
	var e struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == nil {
		t.Fatalf("not an OpenAI error body: %s", body)
	}
	return e.Error
}

func TestRejections(t *testing.T) {
	srv := openaitest.NewServer(t)
	srv.RequireAPIKey("sk-right-key-0001")
	chat := srv.URL + "/chat/completions"
	tests := []struct {
		name, url, key, body string
		status               int
		code                 any
		msg                  string
	}{
		{"no key", chat, "", `{}`, 401, nil, "didn't provide an API key"},
		{"wrong key, masked", chat, "sk-wrong-key-9999", `{}`, 401, "invalid_api_key", "sk-**********9999"},
		{"bad JSON", chat, "sk-right-key-0001", `{`, 400, nil, "could not parse the JSON body"},
		{"no model", chat, "sk-right-key-0001", `{"messages":[{"role":"user","content":"x"}]}`, 400, nil, "must provide a model"},
		{"no messages", chat, "sk-right-key-0001", `{"model":"m","messages":[]}`, 400, "empty_array", "too short"},
		{"unknown path", srv.URL + "/nope", "sk-right-key-0001", `{}`, 404, nil, "Invalid URL (POST /v1/nope)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := post(t, tt.url, tt.key, tt.body)
			if status != tt.status {
				t.Errorf("status = %d, want %d", status, tt.status)
			}
			e := errorOf(t, body)
			if e["code"] != tt.code || !strings.Contains(e["message"].(string), tt.msg) {
				t.Errorf("error = %v, want code %v and a message containing %q", e, tt.code, tt.msg)
			}
			if !strings.HasPrefix(h.Get("x-request-id"), "req_") {
				t.Errorf("x-request-id = %q", h.Get("x-request-id"))
			}
		})
	}
	if n := len(srv.Requests()); n != len(tests) {
		t.Errorf("%d requests recorded, want %d", n, len(tests))
	}
}

func TestNoAuthCompat(t *testing.T) {
	srv := openaitest.NewServer(t)
	srv.SetCompat(openaitest.Compat{NoAuth: true})
	status, _, body := post(t, srv.URL+"/chat/completions", "", `{"model":"llama3.2","messages":[{"role":"user","content":"hi"}]}`)
	if status != 200 || !strings.Contains(body, `"content":"hi"`) {
		t.Errorf("status %d, body %s", status, body)
	}
}

func TestFaultStatusUsesOpenAIBody(t *testing.T) {
	srv := openaitest.NewServer(t)
	srv.Enqueue(llmtest.WireReply{Fault: llmtest.Fault{Status: 429, Header: http.Header{"Retry-After": {"3"}}}})
	status, h, body := post(t, srv.URL+"/chat/completions", "sk-x", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	if status != 429 || h.Get("Retry-After") != "3" {
		t.Errorf("status %d, retry-after %q", status, h.Get("Retry-After"))
	}
	if e := errorOf(t, body); e["code"] != "rate_limit_exceeded" || e["type"] != "requests" {
		t.Errorf("error = %v", e)
	}
}

func TestModels(t *testing.T) {
	srv := openaitest.NewServer(t)
	client := openai.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("sk-x"), option.WithMaxRetries(0))
	page, err := client.Models.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) == 0 || page.Data[0].ID == "" {
		t.Errorf("models = %+v", page.Data)
	}
}

// events reads a raw SSE response into its data payloads.
func events(t *testing.T, body string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func TestStreamShape(t *testing.T) {
	srv := openaitest.NewServer(t)
	srv.Enqueue(llmtest.WireReply{Response: &llm.Response{
		ID:         "chatcmpl-x",
		Content:    []llm.Part{llm.Text{Text: "a b"}, llm.ToolCall{ID: "call_1", Name: "f", Input: json.RawMessage(`{"k":"vvvvvvvvvv"}`)}},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 5, OutputTokens: 3, CacheReadTokens: 7},
	}})
	status, h, body := post(t, srv.URL+"/chat/completions", "sk-x",
		`{"model":"gpt-4.1","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, content type %q", status, h.Get("Content-Type"))
	}
	data := events(t, body)
	if len(data) < 4 || data[len(data)-1] != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]: %v", data)
	}
	type chunk struct {
		ID      string          `json:"id"`
		Object  string          `json:"object"`
		Model   string          `json:"model"`
		Usage   json.RawMessage `json:"usage"`
		Choices []struct {
			Delta        map[string]any `json:"delta"`
			FinishReason *string        `json:"finish_reason"`
		} `json:"choices"`
	}
	var chunks []chunk
	for _, d := range data[:len(data)-1] {
		var c chunk
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			t.Fatalf("chunk %s: %v", d, err)
		}
		if c.ID != "chatcmpl-x" || c.Object != "chat.completion.chunk" || c.Model != "gpt-4.1" {
			t.Errorf("chunk header = %+v", c)
		}
		chunks = append(chunks, c)
	}
	first, finish, last := chunks[0], chunks[len(chunks)-2], chunks[len(chunks)-1]
	if first.Choices[0].Delta["role"] != "assistant" || string(first.Usage) != "null" {
		t.Errorf("first chunk = %+v", first)
	}
	if fr := finish.Choices[0].FinishReason; fr == nil || *fr != "tool_calls" {
		t.Errorf("finish chunk = %+v", finish)
	}
	if len(last.Choices) != 0 {
		t.Errorf("usage chunk has choices: %+v", last)
	}
	var u map[string]any
	if err := json.Unmarshal(last.Usage, &u); err != nil {
		t.Fatal(err)
	}
	if u["prompt_tokens"] != float64(12) || u["prompt_tokens_details"].(map[string]any)["cached_tokens"] != float64(7) || u["completion_tokens"] != float64(3) {
		t.Errorf("usage = %v (prompt_tokens must include cached_tokens)", u)
	}
	// The tool call's first delta carries id and name; arguments follow in
	// several fragments that concatenate to the input.
	var args strings.Builder
	var opened int
	for _, c := range chunks {
		if len(c.Choices) == 0 {
			continue
		}
		tcs, _ := c.Choices[0].Delta["tool_calls"].([]any)
		for _, tc := range tcs {
			tc := tc.(map[string]any)
			if tc["id"] != nil {
				opened++
				if tc["id"] != "call_1" || tc["function"].(map[string]any)["name"] != "f" {
					t.Errorf("first tool delta = %v", tc)
				}
			}
			args.WriteString(tc["function"].(map[string]any)["arguments"].(string))
		}
	}
	if opened != 1 || args.String() != `{"k":"vvvvvvvvvv"}` {
		t.Errorf("opened %d calls, arguments %q", opened, args.String())
	}
}

// TestOfficialSDK checks the emulator against the SDK's own reading of
// both endpoints, without Keel in between.
func TestOfficialSDK(t *testing.T) {
	srv := openaitest.NewServer(t)
	resp := &llm.Response{
		Content: []llm.Part{
			llm.Text{Text: "Calling two tools."},
			llm.ToolCall{ID: "call_a", Name: "f", Input: json.RawMessage(`{"x":"ääääääääää"}`)},
			llm.ToolCall{ID: "call_b", Name: "g", Input: json.RawMessage(`{"y":2}`)},
		},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 100, OutputTokens: 9, CacheReadTokens: 50},
	}
	srv.Enqueue(llmtest.WireReply{Response: resp}, llmtest.WireReply{Response: resp})
	client := openai.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("sk-x"), option.WithMaxRetries(0))
	params := openai.ChatCompletionNewParams{
		Model:         "gpt-4.1",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}

	type summary struct {
		Content, Finish     string
		Calls               []string
		Prompt, Cached, Out int64
	}
	summarize := func(cc *openai.ChatCompletion) summary {
		s := summary{Content: cc.Choices[0].Message.Content, Finish: cc.Choices[0].FinishReason,
			Prompt: cc.Usage.PromptTokens, Cached: cc.Usage.PromptTokensDetails.CachedTokens, Out: cc.Usage.CompletionTokens}
		for _, c := range cc.Choices[0].Message.ToolCalls {
			s.Calls = append(s.Calls, c.ID+" "+c.Function.Name+" "+c.Function.Arguments)
		}
		return s
	}
	want := summary{Content: "Calling two tools.", Finish: "tool_calls",
		Calls:  []string{`call_a f {"x":"ääääääääää"}`, `call_b g {"y":2}`},
		Prompt: 150, Cached: 50, Out: 9}

	cc, err := client.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, summarize(cc)); diff != "" {
		t.Errorf("New (-want +got):\n%s", diff)
	}

	stream := client.Chat.Completions.NewStreaming(t.Context(), params)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, summarize(&acc.ChatCompletion)); diff != "" {
		t.Errorf("NewStreaming (-want +got):\n%s", diff)
	}
}

func TestEchoStartedOutsideATest(t *testing.T) {
	srv := openaitest.Start()
	defer srv.Close()
	status, _, body := post(t, srv.URL+"/chat/completions", "sk-x",
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"multi"},{"type":"text","text":"part"}]}]}`)
	if status != 200 || !strings.Contains(body, `"content":"multipart"`) {
		t.Errorf("status %d, body %s", status, body)
	}
}
