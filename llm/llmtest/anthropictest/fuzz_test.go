package anthropictest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzMessages sends arbitrary bodies to the Messages and count_tokens
// handlers: the emulator parses untrusted bytes, and must answer 200 or a
// 400 in the API's error shape, never panic or fail otherwise.
func FuzzMessages(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hello"}]}`,
		`{"model":"m","max_tokens":10,"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"a b"}]}]}`,
		`{"model":"m","max_tokens":10,"system":[{"type":"text","text":"s"}],"tools":[{"name":"t","input_schema":{}}],"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"x","name":"t","input":{}}]}]}`,
		`{"model":"m","max_tokens":-1,"messages":[{"role":"user","content":"x"}]}`,
		`{"model":"m","max_tokens":1,"temperature":1,"messages":[{"role":"user","content":"x"}]}`,
		`{"messages":null}`, `[]`, `"x"`, ``, `{`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, count bool) {
		s := &Server{}
		path := "/v1/messages"
		if count {
			path = "/v1/messages/count_tokens"
		}
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
		r.Header.Set("x-api-key", "k")
		r.Header.Set("anthropic-version", "2026-10-21")
		w := httptest.NewRecorder()
		s.serveHTTP(w, r)
		switch w.Code {
		case http.StatusOK:
			if ct := w.Header().Get("Content-Type"); ct == "application/json" && !json.Valid(w.Body.Bytes()) {
				t.Fatalf("200 with a body that is not JSON: %s", w.Body)
			}
		case http.StatusBadRequest:
			var e errorEnvelope
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Type != "error" || e.Error.Type != "invalid_request_error" {
				t.Fatalf("400 body %s", w.Body)
			}
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if n := CountTokens(body); n < 0 {
			t.Fatalf("CountTokens = %d", n)
		}
	})
}
