package llm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrorKind classifies a failed call so that callers (retry, fallback,
// the HTTP gateway) can branch without knowing the provider.
type ErrorKind string

// Error kinds.
const (
	KindAuth           ErrorKind = "auth"            // bad or missing credentials (401)
	KindPermission     ErrorKind = "permission"      // credentials lack access (403)
	KindNotFound       ErrorKind = "not_found"       // unknown model or endpoint (404)
	KindInvalidRequest ErrorKind = "invalid_request" // the request is wrong; do not retry
	KindContextLength  ErrorKind = "context_length"  // the prompt does not fit the model's window
	KindRateLimited    ErrorKind = "rate_limited"    // slow down (429)
	KindOverloaded     ErrorKind = "overloaded"      // the provider is out of capacity (529, 503)
	KindServer         ErrorKind = "server"          // the provider failed (5xx)
	KindTimeout        ErrorKind = "timeout"         // a deadline passed
	KindNetwork        ErrorKind = "network"         // the connection failed or a stream was cut
	KindCanceled       ErrorKind = "canceled"        // the caller canceled
	KindContentFilter  ErrorKind = "content_filter"  // a safety filter blocked input or output
	// KindBudgetExceeded: a spending budget (Keel's, or the provider
	// account's credit, 402) refuses the call. Waiting does not help, so it
	// is not retried; it maps to 402 Payment Required.
	KindBudgetExceeded ErrorKind = "budget_exceeded"
)

// Error is the error every Keel model returns for a failed call. Use
// errors.As to reach it, or KindOf for just the kind.
//
// Message never contains credentials: adapters pass upstream messages
// through Redact.
type Error struct {
	Kind ErrorKind
	// Provider is the provider's name ("anthropic", "openai", ...).
	Provider string
	// Status is the HTTP status, 0 when there was no HTTP response.
	Status int
	// Message is the provider's (or Keel's) description of the failure.
	Message string
	// RetryAfter is how long the provider asked the caller to wait
	// (retry-after-ms or retry-after), 0 when it did not say.
	RetryAfter time.Duration
	// RequestID is the provider's request id, for support tickets.
	RequestID string
	// ShouldRetry is the provider's explicit advice (x-should-retry), which
	// overrides the kind's default in Retryable. nil when absent.
	ShouldRetry *bool
	// Err is the underlying cause, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Provider != "" {
		b.WriteString(e.Provider)
		b.WriteString(": ")
	}
	b.WriteString(string(e.Kind))
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	} else if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(Redact(e.Err.Error()))
	}
	if e.RequestID != "" {
		b.WriteString(" [request ")
		b.WriteString(e.RequestID)
		b.WriteString("]")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the same request may succeed if sent again:
// the provider's x-should-retry advice when given, otherwise true for
// rate_limited, overloaded, server, timeout and network errors.
func (e *Error) Retryable() bool {
	if e.ShouldRetry != nil {
		return *e.ShouldRetry
	}
	return e.Kind.Retryable()
}

// Retryable reports whether errors of kind k are worth retrying.
func (k ErrorKind) Retryable() bool {
	switch k {
	case KindRateLimited, KindOverloaded, KindServer, KindTimeout, KindNetwork:
		return true
	}
	return false
}

// ErrIncomplete is the cause of the network error reported for a stream
// that ended without its terminal event.
var ErrIncomplete = errors.New("stream ended before its final event")

// KindOf returns the kind of err: the Kind of an *Error in its chain;
// canceled or timeout for context errors; timeout or network for net
// errors; "" for anything else (and for nil).
func KindOf(err error) ErrorKind {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	switch {
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	}
	if ne, ok := errors.AsType[net.Error](err); ok {
		if ne.Timeout() {
			return KindTimeout
		}
		return KindNetwork
	}
	return ""
}

// IsRetryable reports whether err is an *Error that is Retryable, or a
// network failure or timeout outside one.
func IsRetryable(err error) bool {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Retryable()
	}
	k := KindOf(err)
	return k == KindNetwork || k == KindTimeout
}

// KindForStatus maps an HTTP status to an error kind. Adapters refine it
// with the provider's error type (a 400 whose message says the prompt is too
// long is KindContextLength, for instance).
func KindForStatus(status int) ErrorKind {
	switch {
	case status == http.StatusUnauthorized:
		return KindAuth
	case status == http.StatusForbidden:
		return KindPermission
	case status == http.StatusNotFound:
		return KindNotFound
	case status == http.StatusRequestTimeout, status == http.StatusGatewayTimeout:
		return KindTimeout
	case status == http.StatusTooManyRequests:
		return KindRateLimited
	case status == http.StatusPaymentRequired:
		return KindBudgetExceeded
	case status == http.StatusServiceUnavailable, status == 529:
		return KindOverloaded
	case status == http.StatusConflict, status >= 500:
		// 409 is a lock conflict at Anthropic and OpenAI: transient.
		return KindServer
	case status >= 400:
		return KindInvalidRequest
	}
	return KindServer
}

// HTTPError builds an *Error from an HTTP error response: the kind from
// the status, and retry-after, x-should-retry and the request id from the
// headers. message is redacted.
func HTTPError(provider string, status int, header http.Header, message string, cause error) *Error {
	e := &Error{
		Kind:     KindForStatus(status),
		Provider: provider,
		Status:   status,
		Message:  Redact(message),
		Err:      cause,
	}
	if header != nil {
		e.RetryAfter = ParseRetryAfter(header, time.Now())
		e.RequestID = firstHeader(header, "request-id", "x-request-id", "x-goog-request-id")
		switch strings.ToLower(header.Get("x-should-retry")) {
		case "true":
			e.ShouldRetry = new(true)
		case "false":
			e.ShouldRetry = new(false)
		}
	}
	if e.Kind == KindInvalidRequest && IsContextLengthMessage(message) {
		e.Kind = KindContextLength
	}
	return e
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// ParseRetryAfter reads retry-after-ms (milliseconds, fractional allowed)
// or, failing that, retry-after (seconds or an HTTP date, relative to now).
// It returns 0 when neither is present or valid.
func ParseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("retry-after-ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return clampRetryAfter(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("retry-after"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 {
			return clampRetryAfter(s * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, MaxRetryAfter)
		}
	}
	return 0
}

// MaxRetryAfter bounds what ParseRetryAfter returns: a day is already far
// beyond what any caller waits, and larger values would overflow Duration.
const MaxRetryAfter = 24 * time.Hour

func clampRetryAfter(ns float64) time.Duration {
	if ns >= float64(MaxRetryAfter) || ns != ns { // ns != ns: NaN
		return MaxRetryAfter
	}
	return time.Duration(ns)
}

// IsContextLengthMessage reports whether a provider's error message says
// the input does not fit the model's context window.
func IsContextLengthMessage(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{
		"context_length_exceeded", "context length", "context window",
		"prompt is too long", "maximum context", "too many tokens",
		"input token count", "exceeds the maximum number of tokens",
	} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// secretPattern matches the shapes of API keys and bearer tokens that
// providers echo back in error messages.
var secretPattern = regexp.MustCompile(`(?i)(sk-[a-z0-9_\-*]{6,}|AIza[0-9a-z_\-]{20,}|bearer\s+[a-z0-9._\-]{8,})`)

// Redact replaces anything shaped like an API key or bearer token in s
// with "[REDACTED]". Errors, logs and traces pass provider text through it.
func Redact(s string) string {
	return secretPattern.ReplaceAllString(s, "[REDACTED]")
}
