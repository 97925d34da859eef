package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/server"
	"github.com/keelai/keel/store/state"
)

func openaiClient(e *env, key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(e.URL+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

func TestOpenAIClientPlainAndStreamed(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := openaiClient(e, "anything") // no keys exist: loopback is the local owner
	ctx := context.Background()
	e.openai.Enqueue(llmtest.WireReply{Response: &llm.Response{
		Content: []llm.Part{llm.Text{Text: "General Kenobi."}}, StopReason: llm.StopEndTurn,
		Usage: llm.Usage{InputTokens: 5, OutputTokens: 3},
	}})
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gpt",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello there")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "General Kenobi." {
		t.Errorf("content = %q", got)
	}

	// Streamed: the emulator echoes the last user message.
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:    "claude", // crosses protocols: OpenAI client, Anthropic upstream
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("echo me")},
	})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) == 0 || !strings.Contains(acc.Choices[0].Message.Content, "echo me") {
		t.Errorf("streamed = %+v", acc.Choices)
	}
	if n := len(e.anthropic.Requests()); n != 1 {
		t.Errorf("anthropic upstream got %d requests, want 1", n)
	}

	// Unknown model: the SDK's error type, 404.
	_, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "nope/nothing",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("unknown model: err = %v, want *openai.Error 404", err)
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, envOptions{})
	// No keys yet: a loopback client is the local owner.
	if code, _, body := e.do("POST", "/v1/chat/completions", chatBody); code != 200 {
		t.Fatalf("no keys, loopback: %d %s", code, body)
	}
	secret, k := e.key("alice", 0, 0)
	revokedSecret, _ := e.key("mallory", 0, 0)
	if err := e.st.RevokeKey(context.Background(), "mallory"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, body, header string
		want                     int
		wantErr                  string // a substring of the error body
	}{
		{"bearer", "/v1/chat/completions", chatBody, "Authorization: Bearer " + secret, 200, ""},
		{"x-api-key", "/v1/chat/completions", chatBody, "x-api-key: " + secret, 200, ""},
		{"none", "/v1/chat/completions", chatBody, "", 401, `"invalid_api_key"`},
		{"unknown", "/v1/chat/completions", chatBody, "Authorization: Bearer keel_notakey", 401, "invalid API key"},
		{"revoked", "/v1/chat/completions", chatBody, "Authorization: Bearer " + revokedSecret, 401, "revoked"},
		{"anthropic format", "/v1/messages", `{"model":"claude","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			"x-api-key: keel_notakey", 401, `"authentication_error"`},
		{"api format", "/api/conversations", "", "Authorization: Bearer keel_notakey", 401, `{"error":{"message":"invalid API key","type":"auth"}}`},
		{"page needs no key", "/healthz", "", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := "GET"
			if tt.body != "" {
				method = "POST"
			}
			var hs []string
			if tt.header != "" {
				hs = append(hs, tt.header)
			}
			code, _, body := e.do(method, tt.path, tt.body, hs...)
			if code != tt.want {
				t.Fatalf("status = %d, want %d; body %s", code, tt.want, body)
			}
			if tt.wantErr != "" && !strings.Contains(body, tt.wantErr) {
				t.Errorf("body = %s, want it to contain %s", body, tt.wantErr)
			}
			if strings.Contains(body, secret) || strings.Contains(body, revokedSecret) {
				t.Errorf("a key's secret appears in the response")
			}
		})
	}
	// The access log names the key, never its secret.
	logs := e.logs.String()
	if strings.Contains(logs, secret) || strings.Contains(logs, revokedSecret) || strings.Contains(logs, "sk-upstream-secret") {
		t.Errorf("a secret appears in the logs")
	}
	found := false
	for _, rec := range e.logRecords("http request") {
		if rec["key_id"] == k.ID && rec["key_name"] == "alice" && rec["status"] == float64(200) && rec["model"] == "gpt" {
			found = true
		}
	}
	if !found {
		t.Errorf("no access log record for alice's request; logs:\n%s", logs)
	}
}

func TestAuthModelsRoute(t *testing.T) {
	e := newEnv(t, envOptions{})
	code, _, body := e.do("GET", "/v1/models", "")
	if code != 200 || !strings.Contains(body, `"object":"list"`) || !strings.Contains(body, `"gpt"`) {
		t.Errorf("openai models: %d %s", code, body)
	}
	e.key("alice", 0, 0)
	code, _, body = e.do("GET", "/v1/models", "", "anthropic-version: 2023-06-01")
	if code != 401 || !strings.Contains(body, `"authentication_error"`) {
		t.Errorf("anthropic models without key: %d %s, want Anthropic's 401", code, body)
	}
}

func TestRateLimitPerKey(t *testing.T) {
	e := newEnv(t, envOptions{})
	secret, _ := e.key("limited", 2, 0)
	other, _ := e.key("other", 0, 0)
	auth := "Authorization: Bearer " + secret
	for i := range 2 {
		if code, _, body := e.do("POST", "/v1/chat/completions", chatBody, auth); code != 200 {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
	code, h, body := e.do("POST", "/v1/chat/completions", chatBody, auth)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" || !strings.Contains(body, "rate limit") {
		t.Errorf("third request: %d retry-after=%q %s", code, h.Get("Retry-After"), body)
	}
	if code, _, _ := e.do("POST", "/v1/chat/completions", chatBody, "Authorization: Bearer "+other); code != 200 {
		t.Errorf("another key was limited too: %d", code)
	}
	if n := len(e.openai.Requests()); n != 3 {
		t.Errorf("upstream got %d requests, want 3 (the refused one never sent)", n)
	}
}

func TestBudgetRefusedBeforeSending(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *config.Config) {
		m := c.Models["gpt"]
		m.Price = &config.Price{Input: 1000, Output: 1000} // $1000 per million tokens
		c.Models["gpt"] = m
	}})
	secret, _ := e.key("frugal", 0, cost.Dollars(0.000001))
	code, _, body := e.do("POST", "/v1/chat/completions", chatBody, "Authorization: Bearer "+secret)
	if code != http.StatusPaymentRequired {
		t.Fatalf("status = %d, want a budget refusal; %s", code, body)
	}
	if !strings.Contains(strings.ToLower(body), "budget") {
		t.Errorf("body = %s, want it to say budget", body)
	}
	if n := len(e.openai.Requests()); n != 0 {
		t.Errorf("upstream got %d requests, want none", n)
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *config.Config) { c.Limits.MaxRequestBytes = 1024 }})
	big := `{"model":"gpt","messages":[{"role":"user","content":"` + strings.Repeat("a", 2048) + `"}]}`
	if code, _, body := e.do("POST", "/v1/chat/completions", big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413; %s", code, body)
	}
	if n := len(e.openai.Requests()); n != 0 {
		t.Errorf("upstream got %d requests", n)
	}
}

func TestRequestIDAndMetrics(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, h, _ := e.do("POST", "/v1/chat/completions", chatBody, "X-Request-Id: trace-123")
	if got := h.Get("X-Request-Id"); got != "trace-123" {
		t.Errorf("echoed request id = %q", got)
	}
	_, h, _ = e.do("GET", "/healthz", "")
	if len(h.Get("X-Request-Id")) < 16 {
		t.Errorf("generated request id = %q", h.Get("X-Request-Id"))
	}
	code, _, body := e.do("GET", "/metrics", "")
	for _, want := range []string{
		`keel_http_requests_total{code="200",method="POST",route="POST /v1/chat/completions"} 1`,
		`keel_http_request_duration_seconds_bucket`,
		`keel_http_streams_in_flight 0`,
		`keel_llm_requests_total`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestReadyz(t *testing.T) {
	fail := errors.New("redis: connection refused")
	var ready error
	e := newEnv(t, envOptions{opts: func(o *server.Options) { o.Ready = func(context.Context) error { return ready } }})
	if code, _, _ := e.do("GET", "/readyz", ""); code != 200 {
		t.Errorf("readyz = %d", code)
	}
	ready = fail
	if code, _, body := e.do("GET", "/readyz", ""); code != 503 || !strings.Contains(body, "redis") {
		t.Errorf("readyz with redis down = %d %s", code, body)
	}
}

func TestUsageLedger(t *testing.T) {
	e := newEnv(t, envOptions{})
	secret, k := e.key("alice", 0, 0)
	e.openai.Enqueue(llmtest.WireReply{Response: &llm.Response{
		Content: []llm.Part{llm.Text{Text: "ok"}}, StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 7, OutputTokens: 2},
	}})
	if code, _, body := e.do("POST", "/v1/chat/completions", chatBody, "Authorization: Bearer "+secret); code != 200 {
		t.Fatal(code, body)
	}
	e.stop() // Close flushes the ledger
	rows, err := e.st.Usage(context.Background(), state.UsageFilter{KeyID: k.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Calls != 1 || rows[0].Usage.InputTokens != 7 || rows[0].Usage.OutputTokens != 2 ||
		rows[0].Model != "openai/gpt-4.1-mini" {
		t.Errorf("usage rows = %+v", rows)
	}
}

func TestServeRefusesNonLoopbackWithoutKeys(t *testing.T) {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skip("cannot listen on all interfaces here:", err)
	}
	e := newEnv(t, envOptions{})
	err = e.srv.Serve(context.Background(), ln)
	if !errors.Is(err, server.ErrNoKeys) || !strings.Contains(err.Error(), "keel keys create") {
		t.Errorf("Serve = %v, want ErrNoKeys saying how to create a key", err)
	}

	// With a key, the same address is served (and the key required).
	e.key("alice", 0, 0)
	ln, err = net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()
	port := ln.Addr().(*net.TCPAddr).Port
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/api/conversations")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("status = %d, want 401", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve = %v", err)
	}
}

func TestAPIErrorShape(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.key("alice", 0, 0)
	_, _, body := e.do("GET", "/api/conversations", "")
	var got struct {
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.Error.Type != "auth" || got.Error.Message == "" {
		t.Errorf("body = %s", body)
	}
}
