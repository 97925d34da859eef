package openai_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/provider/openai"
)

// canned answers every request with one fixed response, without a network.
type canned struct {
	status int
	ctype  string
	body   []byte
}

func (c canned) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: c.status,
		Header:     http.Header{"Content-Type": {c.ctype}},
		Body:       io.NopCloser(bytes.NewReader(c.body)),
		Request:    req,
	}, nil
}

func cannedModel(c canned) *openai.Model {
	return openai.New(openai.Options{
		APIKey:     "sk-fuzz",
		BaseURL:    "http://fuzz.invalid/v1",
		HTTPClient: &http.Client{Transport: c},
	}).Model("m")
}

const validStream = `data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}

data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}]}

data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]}}]}

data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}

data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

data: {"id":"c","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":2}}}

data: [DONE]

`

// FuzzStream feeds arbitrary bytes to the adapter as an SSE body. Whatever
// arrives, the stream must end in exactly one of: an *llm.Error, or a done
// event, and a done event only for a stream that had a finish_reason and
// "[DONE]".
func FuzzStream(f *testing.F) {
	f.Add([]byte(validStream))
	f.Add([]byte(strings.ReplaceAll(validStream, "data: [DONE]\n\n", "")))
	f.Add([]byte(validStream[:200]))
	f.Add([]byte("data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\",\"code\":500}}\n\n"))
	f.Add([]byte("data: {\"error\":\"text\"}\n\n"))
	f.Add([]byte("data: {not json\n\n"))
	f.Add([]byte(": comment\n\nevent: x\ndata: [DONE]\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"r\",\"tool_calls\":[{\"id\":\"a\"},{\"id\":\"b\"}]},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		m := cannedModel(canned{status: 200, ctype: "text/event-stream", body: body})
		var done *llm.Response
		var err error
		for ev, e := range m.Stream(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("x")}}) {
			if e != nil {
				err = e
				break
			}
			if ev.Kind == llm.EventDone {
				done = ev.Response
			}
		}
		switch {
		case err != nil:
			if _, ok := errors.AsType[*llm.Error](err); !ok {
				t.Fatalf("error %T %v is not an *llm.Error", err, err)
			}
			if done != nil {
				t.Fatal("both done and an error")
			}
		case done == nil:
			t.Fatal("stream ended with neither done nor an error")
		default:
			if !bytes.Contains(body, []byte("[DONE]")) || !bytes.Contains(body, []byte("finish_reason")) {
				t.Fatalf("done without [DONE] and a finish_reason: %q", body)
			}
		}
	})
}

// FuzzErrorBody feeds arbitrary error bodies: every one must become an
// *llm.Error with the status kept and no panic.
func FuzzErrorBody(f *testing.F) {
	f.Add(400, []byte(`{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":"context_length_exceeded"}}`))
	f.Add(429, []byte(`{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}`))
	f.Add(500, []byte(`<html>oops</html>`))
	f.Add(400, []byte(`{"detail":[{"msg":"x"}]}`))
	f.Add(404, []byte(`{"error":"model not found"}`))
	f.Add(401, []byte(``))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 400 || status > 599 {
			return
		}
		m := cannedModel(canned{status: status, ctype: "application/json", body: body})
		_, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("x")}})
		e, ok := errors.AsType[*llm.Error](err)
		if !ok {
			t.Fatalf("error %T %v is not an *llm.Error", err, err)
		}
		if e.Status != status {
			t.Fatalf("status = %d, want %d", e.Status, status)
		}
	})
}

// FuzzResponseBody feeds arbitrary 200 bodies to the non-streamed call:
// each must give a response or an *llm.Error, never a panic.
func FuzzResponseBody(f *testing.F) {
	f.Add([]byte(`{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3}}`))
	f.Add([]byte(`{"choices":[{"message":{"content":[{"type":"text","text":"A"}],"tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]}}]}`))
	f.Add([]byte(`{"error":{"message":"loading","code":503}}`))
	f.Add([]byte(`{"choices":[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m := cannedModel(canned{status: 200, ctype: "application/json", body: body})
		resp, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("x")}})
		if err != nil {
			if _, ok := errors.AsType[*llm.Error](err); !ok {
				t.Fatalf("error %T %v is not an *llm.Error", err, err)
			}
			return
		}
		for _, c := range resp.ToolCalls() {
			if len(c.Input) == 0 || c.ID == "" {
				t.Fatalf("tool call without input or id: %+v", c)
			}
		}
	})
}

// FuzzOllamaBaseURL checks that any OLLAMA_HOST gives a URL ending in /v1
// that either has a host or is reported by the provider as a bad base URL
// before anything is sent.
func FuzzOllamaBaseURL(f *testing.F) {
	for _, s := range []string{"", "0.0.0.0", "127.0.0.1:11434", "http://h:1/", "https://[::1]", "'x:99999'", "ftp://a/b/v1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		got := openai.OllamaBaseURL(host)
		if !strings.HasSuffix(got, "/v1") {
			t.Fatalf("OllamaBaseURL(%q) = %q, want a /v1 suffix", host, got)
		}
		if u, err := url.Parse(got); err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
			return
		}
		m := openai.New(openai.Options{BaseURL: got, HTTPClient: &http.Client{Transport: canned{status: 500}}}).Model("m")
		_, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("x")}})
		if e, ok := errors.AsType[*llm.Error](err); !ok || e.Kind != llm.KindInvalidRequest || !strings.Contains(e.Message, "base URL") {
			t.Fatalf("OllamaBaseURL(%q) = %q, unusable but not reported: %v", host, got, err)
		}
	})
}

func TestMalformedResponseBody(t *testing.T) {
	tests := []struct {
		name, ctype, body string
		kind              llm.ErrorKind
	}{
		{"not JSON", "application/json", `{"id": nope}`, llm.KindServer},
		{"cut short", "application/json", `{"id":"x","choices":[`, llm.KindNetwork},
	}
	for _, tt := range tests {
		m := cannedModel(canned{status: 200, ctype: tt.ctype, body: []byte(tt.body)})
		_, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserText("x")}})
		if got := llm.KindOf(err); got != tt.kind {
			t.Errorf("%s: %v, want kind %s", tt.name, err, tt.kind)
		}
	}
}
