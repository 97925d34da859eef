package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/keelai/keel/llm"
)

func TestMapError(t *testing.T) {
	retryInfo := map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}
	keyInvalid := map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
	tests := []struct {
		name     string
		err      error
		status   int // captured HTTP status; 0 = none
		header   http.Header
		streamed bool
		kind     llm.ErrorKind
		retry    time.Duration
		reqID    string
		incomp   bool
	}{
		{name: "invalid argument", err: genai.APIError{Code: 400, Status: "INVALID_ARGUMENT", Message: "bad"}, status: 400, kind: llm.KindInvalidRequest},
		{name: "prompt too long", err: genai.APIError{Code: 400, Status: "INVALID_ARGUMENT",
			Message: "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."}, status: 400, kind: llm.KindContextLength},
		{name: "bad key", err: genai.APIError{Code: 400, Status: "INVALID_ARGUMENT", Message: "API key not valid. Please pass a valid API key.",
			Details: []map[string]any{keyInvalid}}, status: 400, kind: llm.KindAuth},
		{name: "no key", err: genai.APIError{Code: 403, Status: "PERMISSION_DENIED",
			Message: "Method doesn't allow unregistered callers (callers without established identity)."}, status: 403, kind: llm.KindAuth},
		{name: "no access", err: genai.APIError{Code: 403, Status: "PERMISSION_DENIED", Message: "The caller does not have permission"}, status: 403, kind: llm.KindPermission},
		{name: "unknown model", err: genai.APIError{Code: 404, Status: "NOT_FOUND"}, status: 404, kind: llm.KindNotFound},
		{name: "rate limited with retry-after", err: genai.APIError{Code: 429, Status: "RESOURCE_EXHAUSTED"}, status: 429,
			header: http.Header{"Retry-After": {"3"}, "X-Goog-Request-Id": {"rq-1"}}, kind: llm.KindRateLimited, retry: 3 * time.Second, reqID: "rq-1"},
		{name: "rate limited with RetryInfo", err: genai.APIError{Code: 429, Status: "RESOURCE_EXHAUSTED", Details: []map[string]any{retryInfo}}, status: 429,
			kind: llm.KindRateLimited, retry: 37 * time.Second},
		{name: "header beats RetryInfo", err: genai.APIError{Code: 429, Status: "RESOURCE_EXHAUSTED", Details: []map[string]any{retryInfo}}, status: 429,
			header: http.Header{"Retry-After-Ms": {"1500"}}, kind: llm.KindRateLimited, retry: 1500 * time.Millisecond},
		{name: "absurd retry-after", err: genai.APIError{Code: 429, Status: "RESOURCE_EXHAUSTED"}, status: 429,
			header: http.Header{"Retry-After": {"1e300"}}, kind: llm.KindRateLimited, retry: llm.MaxRetryAfter},
		{name: "internal", err: genai.APIError{Code: 500, Status: "INTERNAL"}, status: 500, kind: llm.KindServer},
		{name: "overloaded", err: genai.APIError{Code: 503, Status: "UNAVAILABLE", Message: "The model is overloaded."}, status: 503, kind: llm.KindOverloaded},
		{name: "deadline", err: genai.APIError{Code: 504, Status: "DEADLINE_EXCEEDED"}, status: 504, kind: llm.KindTimeout},
		{name: "error event in a 200 stream", err: genai.APIError{Code: 503, Status: "UNAVAILABLE"}, status: 200, streamed: true, kind: llm.KindOverloaded},
		{name: "error event with a status name only", err: genai.APIError{Status: "RESOURCE_EXHAUSTED"}, status: 200, streamed: true, kind: llm.KindRateLimited},
		{name: "error event with nothing", err: genai.APIError{Message: "?"}, status: 200, streamed: true, kind: llm.KindServer},
		{name: "connection cut mid-stream", err: fmt.Errorf("read: %w", io.ErrUnexpectedEOF), status: 200, streamed: true, kind: llm.KindNetwork, incomp: true},
		{name: "connection refused", err: fmt.Errorf("doRequest: %w", &netError{}), kind: llm.KindNetwork},
		{name: "malformed body", err: fmt.Errorf("iterateResponseStream: %w", &json.SyntaxError{}), status: 200, streamed: true, kind: llm.KindServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &capture{}
			if tt.status != 0 {
				c.set(tt.status, tt.header)
			}
			e := mapError(context.Background(), "gemini", tt.err, c, tt.streamed)
			if e.Kind != tt.kind || e.RetryAfter != tt.retry || e.RequestID != tt.reqID || e.Provider != "gemini" {
				t.Errorf("got kind %s, retry %v, request id %q, provider %q; want %s, %v, %q, gemini",
					e.Kind, e.RetryAfter, e.RequestID, e.Provider, tt.kind, tt.retry, tt.reqID)
			}
			if got := errors.Is(e, llm.ErrIncomplete); got != tt.incomp {
				t.Errorf("errors.Is(ErrIncomplete) = %v, want %v", got, tt.incomp)
			}
			kept := errors.Is(e, tt.err)
			if _, ok := tt.err.(genai.APIError); ok {
				// APIError holds a slice, so errors.Is cannot compare it.
				_, kept = errors.AsType[genai.APIError](e)
			}
			if !kept {
				t.Errorf("the cause is not kept: %v", e)
			}
		})
	}
}

type netError struct{}

func (*netError) Error() string   { return "dial tcp: connection refused" }
func (*netError) Timeout() bool   { return false }
func (*netError) Temporary() bool { return false }

func TestMapErrorContext(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()
	for _, tt := range []struct {
		ctx  context.Context
		want llm.ErrorKind
	}{{canceled, llm.KindCanceled}, {expired, llm.KindTimeout}} {
		e := mapError(tt.ctx, "gemini", fmt.Errorf("doRequest: %w", tt.ctx.Err()), nil, true)
		if e.Kind != tt.want {
			t.Errorf("kind = %s, want %s", e.Kind, tt.want)
		}
	}
}

func TestMapErrorRedacts(t *testing.T) {
	key := "AIzaSyA-very-secret-key-1234567890abc"
	e := mapError(context.Background(), "gemini", genai.APIError{Code: 400, Status: "INVALID_ARGUMENT", Message: "API key not valid: " + key}, nil, false)
	if s := e.Error(); strings.Contains(s, key) {
		t.Errorf("error %q contains the key", s)
	}
}

func TestParseRetryDelay(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"37s", 37 * time.Second},
		{"1.5s", 1500 * time.Millisecond},
		{" 2s ", 2 * time.Second},
		{"0s", 0},
		{"-3s", 0},
		{"5", 0},
		{"5m", 0},
		{"100ms", 0},
		{"1h0s", 0},
		{"", 0},
		{"s", 0},
	}
	for _, tt := range tests {
		if got := parseRetryDelay(tt.in); got != tt.want {
			t.Errorf("parseRetryDelay(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzParseRetryDelay checks that any retryDelay an error body carries is
// read without panicking and never yields a negative wait.
func FuzzParseRetryDelay(f *testing.F) {
	for _, s := range []string{"37s", "1.5s", "0.000000001s", "-1s", "9999999999999s", "1e3s", "", "s", "NaNs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d := parseRetryDelay(s); d < 0 {
			t.Errorf("parseRetryDelay(%q) = %v", s, d)
		}
	})
}

// FuzzAPIError feeds arbitrary error bodies through the path genai takes
// (JSON into APIError) and the adapter's mapping: it must always produce a
// kind and never panic, whatever the details hold.
func FuzzAPIError(f *testing.F) {
	for _, s := range []string{
		`{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}`,
		`{"error":{"code":400,"message":"API key not valid","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`,
		`{"error":{"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":5}]}}`,
		`{"error":{"code":-1}}`,
		`{"error":{}}`,
	} {
		f.Add(s, 429)
	}
	f.Fuzz(func(t *testing.T, body string, status int) {
		var env struct {
			Error *genai.APIError `json:"error"`
		}
		if json.Unmarshal([]byte(body), &env) != nil || env.Error == nil {
			return
		}
		c := &capture{}
		c.set(status, http.Header{"Retry-After": {body}})
		e := mapError(context.Background(), "gemini", *env.Error, c, false)
		if e.Kind == "" || e.RetryAfter < 0 {
			t.Errorf("mapError(%s) = kind %q, retry %v", body, e.Kind, e.RetryAfter)
		}
	})
}
