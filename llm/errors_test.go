package llm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"retry-after": "2"}, 2 * time.Second},
		{"fractional seconds", map[string]string{"retry-after": "1.5"}, 1500 * time.Millisecond},
		{"ms wins", map[string]string{"retry-after": "2", "retry-after-ms": "250"}, 250 * time.Millisecond},
		{"bad ms falls back", map[string]string{"retry-after": "3", "retry-after-ms": "soon"}, 3 * time.Second},
		{"http date", map[string]string{"retry-after": now.Add(7 * time.Second).Format(http.TimeFormat)}, 7 * time.Second},
		{"date in the past", map[string]string{"retry-after": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"negative", map[string]string{"retry-after": "-4"}, 0},
		{"garbage", map[string]string{"retry-after": "tomorrow"}, 0},
		{"huge seconds", map[string]string{"retry-after": "1e300"}, MaxRetryAfter},
		{"huge ms", map[string]string{"retry-after-ms": "9223372036854775807"}, MaxRetryAfter},
		{"NaN", map[string]string{"retry-after": "NaN"}, 0},
		{"far date", map[string]string{"retry-after": now.AddDate(1, 0, 0).Format(http.TimeFormat)}, MaxRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			if got := ParseRetryAfter(h, now); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHTTPError(t *testing.T) {
	tests := []struct {
		status    int
		message   string
		header    map[string]string
		kind      ErrorKind
		retryable bool
	}{
		{400, "messages: field required", nil, KindInvalidRequest, false},
		{400, "prompt is too long: 210000 tokens > 200000 maximum", nil, KindContextLength, false},
		{401, "invalid x-api-key", nil, KindAuth, false},
		{403, "no access", nil, KindPermission, false},
		{404, "model not found", nil, KindNotFound, false},
		{408, "timeout", nil, KindTimeout, true},
		{409, "conflict", nil, KindServer, true},
		{413, "too large", nil, KindInvalidRequest, false},
		{429, "slow down", map[string]string{"retry-after": "2"}, KindRateLimited, true},
		{402, "credit balance is too low", nil, KindBudgetExceeded, false},
		{500, "oops", nil, KindServer, true},
		{503, "unavailable", nil, KindOverloaded, true},
		{504, "gateway timeout", nil, KindTimeout, true},
		{529, "overloaded", nil, KindOverloaded, true},
		{500, "oops", map[string]string{"x-should-retry": "false"}, KindServer, false},
		{400, "odd", map[string]string{"x-should-retry": "true"}, KindInvalidRequest, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status, " ", tt.message), func(t *testing.T) {
			h := http.Header{"Request-Id": {"req_1"}}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			e := HTTPError("anthropic", tt.status, h, tt.message, nil)
			if e.Kind != tt.kind || e.Retryable() != tt.retryable || e.RequestID != "req_1" || e.Status != tt.status {
				t.Errorf("got kind %q retryable %v request %q status %d", e.Kind, e.Retryable(), e.RequestID, e.Status)
			}
			if tt.header["retry-after"] == "2" && e.RetryAfter != 2*time.Second {
				t.Errorf("RetryAfter = %v", e.RetryAfter)
			}
		})
	}
}

func TestErrorsAsAndKindOf(t *testing.T) {
	inner := &Error{Kind: KindRateLimited, Provider: "openai", Status: 429}
	wrapped := fmt.Errorf("calling model: %w", inner)
	if e, ok := errors.AsType[*Error](wrapped); !ok || e != inner {
		t.Fatalf("errors.As did not find the *Error")
	}
	tests := []struct {
		err  error
		want ErrorKind
	}{
		{nil, ""},
		{wrapped, KindRateLimited},
		{context.Canceled, KindCanceled},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), KindTimeout},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, KindNetwork},
		{errors.New("plain"), ""},
	}
	for _, tt := range tests {
		if got := KindOf(tt.err); got != tt.want {
			t.Errorf("KindOf(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if !IsRetryable(wrapped) || IsRetryable(errors.New("plain")) {
		t.Error("IsRetryable wrong")
	}
}

func TestErrorNeverShowsKeys(t *testing.T) {
	keys := []string{
		"sk-proj-abcdefghijklmnop1234",
		"sk-ant-api03-AbCdEfGhIjKlMnOp",
		"AIzaSyA1234567890abcdefghijklmnop",
		"Bearer abcdefgh12345678",
	}
	for _, k := range keys {
		e := HTTPError("openai", 401, nil, "Incorrect API key provided: "+k+".", nil)
		if strings.Contains(e.Error(), k) || !strings.Contains(e.Error(), "[REDACTED]") {
			t.Errorf("error text %q leaks or does not redact %q", e.Error(), k)
		}
		e = &Error{Kind: KindNetwork, Err: errors.New("dial with " + k)}
		if strings.Contains(e.Error(), k) {
			t.Errorf("cause text leaks the key: %q", e.Error())
		}
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Kind: KindOverloaded, Provider: "anthropic", Status: 529, Message: "Overloaded", RequestID: "req_9"}
	if got, want := e.Error(), "anthropic: overloaded (HTTP 529): Overloaded [request req_9]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
