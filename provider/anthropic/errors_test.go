package anthropic_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/provider/anthropic"
)

var hi = &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}

// errorFields are the fields of an *llm.Error a test compares.
var errorFields = cmpopts.IgnoreFields(llm.Error{}, "Message", "Err")

func TestHTTPErrors(t *testing.T) {
	tests := []struct {
		name  string
		fault llmtest.Fault
		want  llm.Error
		msg   string // a part of the message
	}{
		{"invalid request", llmtest.Fault{Status: 400},
			llm.Error{Kind: llm.KindInvalidRequest, Status: 400}, "invalid_request_error"},
		{"prompt too long", llmtest.Fault{Status: 400, Body: anthropictest.ErrorBody("invalid_request_error", "prompt is too long: 212345 tokens > 200000 maximum")},
			llm.Error{Kind: llm.KindContextLength, Status: 400}, "prompt is too long"},
		{"content filter", llmtest.Fault{Status: 400, Body: anthropictest.ErrorBody("invalid_request_error", "Output blocked by content filtering policy")},
			llm.Error{Kind: llm.KindContentFilter, Status: 400}, "content filtering"},
		{"authentication", llmtest.Fault{Status: 401},
			llm.Error{Kind: llm.KindAuth, Status: 401}, "authentication_error"},
		{"billing", llmtest.Fault{Status: 402},
			llm.Error{Kind: llm.KindPermission, Status: 402}, "billing_error"},
		{"permission", llmtest.Fault{Status: 403},
			llm.Error{Kind: llm.KindPermission, Status: 403}, "permission_error"},
		{"not found", llmtest.Fault{Status: 404, Body: anthropictest.ErrorBody("not_found_error", "model: claude-nonexistent")},
			llm.Error{Kind: llm.KindNotFound, Status: 404}, "claude-nonexistent"},
		{"request too large", llmtest.Fault{Status: 413},
			llm.Error{Kind: llm.KindInvalidRequest, Status: 413}, "request_too_large"},
		{"rate limited, retry-after seconds", llmtest.Fault{Status: 429, Header: http.Header{"Retry-After": {"7"}}},
			llm.Error{Kind: llm.KindRateLimited, Status: 429, RetryAfter: 7 * time.Second}, "rate_limit_error"},
		{"rate limited, retry-after-ms", llmtest.Fault{Status: 429, Header: http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"9"}}},
			llm.Error{Kind: llm.KindRateLimited, Status: 429, RetryAfter: 1500 * time.Millisecond}, "rate_limit_error"},
		{"server error", llmtest.Fault{Status: 500},
			llm.Error{Kind: llm.KindServer, Status: 500}, "api_error"},
		{"gateway page that is not JSON", llmtest.Fault{Status: 502, Body: "<html>Bad Gateway</html>"},
			llm.Error{Kind: llm.KindServer, Status: 502}, "Bad Gateway"},
		{"timeout", llmtest.Fault{Status: 504},
			llm.Error{Kind: llm.KindTimeout, Status: 504}, "timeout_error"},
		{"overloaded with advice", llmtest.Fault{Status: 529, Header: http.Header{"X-Should-Retry": {"false"}, "Request-Id": {"req_011CTest"}}},
			llm.Error{Kind: llm.KindOverloaded, Status: 529, ShouldRetry: new(false), RequestID: "req_011CTest"}, "Overloaded"},
		{"unknown error type keeps the status's kind", llmtest.Fault{Status: 503, Body: anthropictest.ErrorBody("brand_new_error", "something new")},
			llm.Error{Kind: llm.KindOverloaded, Status: 503}, "brand_new_error: something new"},
	}
	for _, tc := range tests {
		for _, c := range calls {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				srv, m := newModel(t)
				srv.Enqueue(llmtest.WireReply{Fault: tc.fault})
				_, err := c.run(t.Context(), m, hi)
				e, ok := errors.AsType[*llm.Error](err)
				if !ok {
					t.Fatalf("err = %#v, want an *llm.Error", err)
				}
				want := tc.want
				want.Provider = "anthropic"
				if want.RequestID == "" {
					want.RequestID = e.RequestID // the emulator numbers them
					if !strings.HasPrefix(e.RequestID, "req_") {
						t.Errorf("RequestID %q, want the response's request-id", e.RequestID)
					}
				}
				if diff := cmp.Diff(&want, e, errorFields); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				if !strings.Contains(e.Message, tc.msg) {
					t.Errorf("message %q does not contain %q", e.Message, tc.msg)
				}
				if strings.Contains(err.Error(), testKey) || strings.Contains(e.Message, testKey) {
					t.Errorf("the API key leaked into the error: %v", err)
				}
			})
		}
	}
}

// TestSecretsRedacted checks that a key the API echoes back in a message
// does not reach the error.
func TestSecretsRedacted(t *testing.T) {
	srv, m := newModel(t)
	srv.Enqueue(llmtest.WireReply{Fault: llmtest.Fault{Status: 401,
		Body: anthropictest.ErrorBody("authentication_error", "invalid x-api-key: "+testKey)}})
	_, err := m.Generate(t.Context(), hi)
	if err == nil || strings.Contains(err.Error(), testKey) || !strings.Contains(err.Error(), "[REDACTED]") {
		t.Errorf("err = %v, want the key redacted", err)
	}
}

// TestMidStreamError checks that an SSE error event after some text is an
// error of the event's type, never a short answer.
func TestMidStreamError(t *testing.T) {
	for _, tc := range []struct {
		errType string
		kind    llm.ErrorKind
	}{
		{"overloaded_error", llm.KindOverloaded},
		{"api_error", llm.KindServer},
		{"rate_limit_error", llm.KindRateLimited},
		{"invalid_request_error", llm.KindInvalidRequest},
	} {
		t.Run(tc.errType, func(t *testing.T) {
			srv, m := newModel(t)
			resp := &llm.Response{Content: []llm.Part{llm.Text{Text: "a fairly long answer that gets cut"}}}
			srv.Enqueue(anthropictest.StreamError(resp, 4, 529, tc.errType, "Overloaded"))
			evs, err := collect(m.Stream(t.Context(), hi))
			e, ok := errors.AsType[*llm.Error](err)
			if !ok {
				t.Fatalf("err = %v after %d events, want an *llm.Error", err, len(evs))
			}
			if e.Kind != tc.kind || e.Status != 0 || !strings.Contains(e.Message, tc.errType) {
				t.Errorf("error = %+v, want kind %s, status 0", e, tc.kind)
			}
			if len(evs) == 0 || evs[0].Kind != llm.EventText {
				t.Errorf("events before the error: %v", evs)
			}
			for _, ev := range evs {
				if ev.Kind == llm.EventDone {
					t.Error("a failed stream yielded EventDone")
				}
			}
		})
	}
}

// TestDroppedConnection checks that a connection cut mid-way is a network
// error (ErrIncomplete in a stream), never a truncated success.
func TestDroppedConnection(t *testing.T) {
	resp := &llm.Response{Content: []llm.Part{
		llm.Text{Text: "one two three four five six"},
		llm.ToolCall{ID: "toolu_1", Name: "f", Input: []byte(`{"a":"bcdefghijklmnopqrstuvwxyz"}`)},
	}}
	for _, after := range []int{0, 1, 3, 6, 12, 14} {
		t.Run(fmt.Sprint("stream after ", after), func(t *testing.T) {
			srv, m := newModel(t)
			srv.Enqueue(llmtest.WireReply{Response: resp, Fault: llmtest.Fault{Drop: true, DropAfter: after}})
			evs, err := collect(m.Stream(t.Context(), hi))
			if llm.KindOf(err) != llm.KindNetwork || !errors.Is(err, llm.ErrIncomplete) {
				t.Fatalf("err = %v after %d events, want a network error wrapping ErrIncomplete", err, len(evs))
			}
			if !llm.IsRetryable(err) {
				t.Error("a dropped stream is not retryable")
			}
		})
	}
	t.Run("generate", func(t *testing.T) {
		srv, m := newModel(t)
		srv.Enqueue(llmtest.WireReply{Response: resp, Fault: llmtest.Fault{Drop: true}})
		_, err := m.Generate(t.Context(), hi)
		if llm.KindOf(err) != llm.KindNetwork {
			t.Fatalf("err = %v, want a network error", err)
		}
	})
}

func TestMalformed(t *testing.T) {
	resp := &llm.Response{Content: []llm.Part{llm.Text{Text: "one two three"}}}
	// Event 2 is the ping, whose data the SDK never decodes: a garbled ping
	// loses nothing, so it is not among the positions tried.
	for _, after := range []int{0, 1, 3, 5} {
		t.Run(fmt.Sprint("stream after ", after), func(t *testing.T) {
			srv, m := newModel(t)
			srv.Enqueue(llmtest.WireReply{Response: resp, Fault: llmtest.Fault{Malformed: true, MalformedAfter: after}})
			_, err := collect(m.Stream(t.Context(), hi))
			if llm.KindOf(err) != llm.KindServer || !strings.Contains(err.Error(), "malformed") {
				t.Fatalf("err = %v, want a malformed-stream server error", err)
			}
		})
	}
	t.Run("generate", func(t *testing.T) {
		srv, m := newModel(t)
		srv.Enqueue(llmtest.WireReply{Response: resp, Fault: llmtest.Fault{Malformed: true}})
		_, err := m.Generate(t.Context(), hi)
		if llm.KindOf(err) != llm.KindServer || !strings.Contains(err.Error(), "malformed") {
			t.Fatalf("err = %v, want a malformed-response server error", err)
		}
	})
}

// TestCancelMidStream cancels after the first delta: the stream must end
// with a cancellation error and close the upstream response.
func TestCancelMidStream(t *testing.T) {
	srv := anthropictest.NewServer(t)
	tracker := &closeTracker{}
	m := anthropic.New(anthropic.Options{APIKey: testKey, BaseURL: srv.URL, HTTPClient: &http.Client{Transport: tracker}}).Model(testModel)
	srv.Enqueue(reply(&llm.Response{Content: []llm.Part{llm.Text{Text: strings.Repeat("word ", 200)}}}))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var texts int
	var gotErr error
	for ev, err := range m.Stream(ctx, hi) {
		if err != nil {
			gotErr = err
			break
		}
		if ev.Kind == llm.EventDone {
			t.Fatal("the stream completed after its context was canceled")
		}
		if ev.Kind == llm.EventText {
			texts++
			cancel()
		}
	}
	if texts != 1 {
		t.Errorf("%d text events after cancel, want 1", texts)
	}
	if llm.KindOf(gotErr) != llm.KindCanceled {
		t.Errorf("err = %v, want canceled", gotErr)
	}
	if o, c := tracker.opened.Load(), tracker.closed.Load(); o != 1 || c != 1 {
		t.Errorf("bodies opened %d, closed %d; want 1 and 1", o, c)
	}
}

// TestCancelBeforeHeaders cancels while the API has not answered yet.
func TestCancelBeforeHeaders(t *testing.T) {
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			srv := anthropictest.NewServer(t)
			sent := make(chan struct{})
			m := anthropic.New(anthropic.Options{APIKey: testKey, BaseURL: srv.URL,
				HTTPClient: &http.Client{Transport: &signalTransport{sent: sent}}}).Model(testModel)
			srv.Enqueue(llmtest.WireReply{Fault: llmtest.Fault{Latency: time.Hour}})
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() {
				_, err := c.run(ctx, m, hi)
				done <- err
			}()
			<-sent // the call is in flight, the emulator about to wait an hour
			cancel()
			if err := <-done; llm.KindOf(err) != llm.KindCanceled {
				t.Errorf("err = %v, want canceled", err)
			}
		})
	}
}

// signalTransport closes sent when the first request goes out.
type signalTransport struct {
	sent chan struct{}
	once sync.Once
}

func (s *signalTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	s.once.Do(func() { close(s.sent) })
	return http.DefaultTransport.RoundTrip(r)
}

func TestDeadline(t *testing.T) {
	srv, m := newModel(t)
	srv.Enqueue(llmtest.WireReply{Fault: llmtest.Fault{Latency: time.Hour}})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := m.Generate(ctx, hi)
	if llm.KindOf(err) != llm.KindTimeout {
		t.Errorf("err = %v, want timeout", err)
	}
}

// TestEarlyBreak stops the loop after the first event: the upstream
// response must be closed.
func TestEarlyBreak(t *testing.T) {
	srv := anthropictest.NewServer(t)
	tracker := &closeTracker{}
	m := anthropic.New(anthropic.Options{APIKey: testKey, BaseURL: srv.URL, HTTPClient: &http.Client{Transport: tracker}}).Model(testModel)
	srv.Enqueue(reply(&llm.Response{Content: []llm.Part{llm.Text{Text: strings.Repeat("word ", 200)}}}))
	n := 0
	for _, err := range m.Stream(t.Context(), hi) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		break
	}
	if n != 1 {
		t.Errorf("%d events", n)
	}
	if o, c := tracker.opened.Load(), tracker.closed.Load(); o != 1 || c != 1 {
		t.Errorf("bodies opened %d, closed %d; want 1 and 1", o, c)
	}
}

func TestBadBaseURL(t *testing.T) {
	m := anthropic.New(anthropic.Options{APIKey: testKey, BaseURL: "not a url"}).Model(testModel)
	for _, c := range calls {
		if _, err := c.run(t.Context(), m, hi); llm.KindOf(err) != llm.KindInvalidRequest || !strings.Contains(err.Error(), "base URL") {
			t.Errorf("%s: err = %v, want an invalid-request error naming the base URL", c.name, err)
		}
	}
	if _, err := m.CountTokens(t.Context(), hi); llm.KindOf(err) != llm.KindInvalidRequest {
		t.Errorf("CountTokens: err = %v", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := anthropictest.New()
	url := srv.URL
	srv.Close()
	m := anthropic.New(anthropic.Options{APIKey: testKey, BaseURL: url}).Model(testModel)
	for _, c := range calls {
		_, err := c.run(t.Context(), m, hi)
		if llm.KindOf(err) != llm.KindNetwork {
			t.Errorf("%s: err = %v, want network", c.name, err)
		}
	}
}
