package anthropic_test

import (
	"encoding/json"
	"io"
	"iter"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/provider/anthropic"
)

// testKey is shaped like a real key so that a leak would be caught by the
// tests that look for it in errors.
const testKey = "sk-ant-api03-TESTKEYtestkey0123456789"

const testModel = "claude-sonnet-4-6"

// ignoreLatency leaves out the one field that differs between runs.
var ignoreLatency = cmpopts.IgnoreFields(llm.Response{}, "Latency")

func newModel(t testing.TB) (*anthropictest.Server, *anthropic.Model) {
	t.Helper()
	srv := anthropictest.NewServer(t)
	return srv, anthropic.New(anthropic.Options{APIKey: testKey, BaseURL: srv.URL}).Model(testModel)
}

// collect drains a stream: its events, and its error if it failed.
func collect(stream iter.Seq2[llm.Event, error]) ([]llm.Event, error) {
	var evs []llm.Event
	for ev, err := range stream {
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// lastBody decodes the body of the last request the server got.
func lastBody(t *testing.T, srv *anthropictest.Server) map[string]any {
	t.Helper()
	reqs := srv.Requests()
	if len(reqs) == 0 {
		t.Fatal("the server got no request")
	}
	var v map[string]any
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &v); err != nil {
		t.Fatalf("request body: %v", err)
	}
	return v
}

// jsonValue decodes s, for comparing with decoded request bodies.
func jsonValue(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return v
}

// closeTracker is an http.RoundTripper that counts response bodies opened
// and closed, to prove the adapter closes the upstream stream.
type closeTracker struct {
	opened, closed atomic.Int32
}

func (c *closeTracker) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	c.opened.Add(1)
	resp.Body = &trackedBody{ReadCloser: resp.Body, closed: &c.closed}
	return resp, nil
}

type trackedBody struct {
	io.ReadCloser
	closed *atomic.Int32
	done   atomic.Bool
}

func (b *trackedBody) Close() error {
	if b.done.CompareAndSwap(false, true) {
		b.closed.Add(1)
	}
	return b.ReadCloser.Close()
}

func reply(resp *llm.Response) llmtest.WireReply { return llmtest.WireReply{Response: resp} }
