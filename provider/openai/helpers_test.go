package openai_test

import (
	"encoding/json"
	"errors"
	"io"
	"iter"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/provider/openai"
)

// bodyWatch counts response bodies opened and closed, to prove that the
// adapter ends the upstream request.
type bodyWatch struct {
	next http.RoundTripper

	mu             sync.Mutex
	opened, closed int
}

func (b *bodyWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := b.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.opened++
	b.mu.Unlock()
	res.Body = &watchedBody{ReadCloser: res.Body, w: b}
	return res, nil
}

// open returns how many bodies are still open.
func (b *bodyWatch) open() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opened - b.closed
}

type watchedBody struct {
	io.ReadCloser
	w    *bodyWatch
	once sync.Once
}

func (w *watchedBody) Close() error {
	w.once.Do(func() {
		w.w.mu.Lock()
		w.w.closed++
		w.w.mu.Unlock()
	})
	return w.ReadCloser.Close()
}

// redirect sends every request to the emulator whatever its URL says, so
// that a provider configured for api.openai.com (official mode) can be
// tested against it.
type redirect struct {
	to   *url.URL
	next http.RoundTripper
}

func (r redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = r.to.Scheme, r.to.Host, ""
	return r.next.RoundTrip(req)
}

const testKey = "sk-test-0123456789abcdef"

// env is a started emulator and a model on it.
type env struct {
	srv   *openaitest.Server
	m     *openai.Model
	watch *bodyWatch
}

// setup starts an emulator and a model "openai/gpt-4.1-mini" on it, as a
// compatible server (the emulator's own URL) or, with official, as OpenAI
// (api.openai.com redirected to the emulator).
func setup(t *testing.T, official bool) *env {
	t.Helper()
	srv := openaitest.NewServer(t)
	watch := &bodyWatch{next: http.DefaultTransport}
	opts := openai.Options{APIKey: testKey, BaseURL: srv.URL, HTTPClient: &http.Client{Transport: watch}}
	if official {
		to, err := url.Parse(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		watch.next = redirect{to: to, next: http.DefaultTransport}
		opts.BaseURL = ""
	}
	return &env{srv: srv, m: openai.New(opts).Model("gpt-4.1-mini"), watch: watch}
}

// body returns the i-th recorded request body, decoded.
func (e *env) body(t *testing.T, i int) map[string]any {
	t.Helper()
	reqs := e.srv.Requests()
	if len(reqs) <= i {
		t.Fatalf("%d requests recorded, want more than %d", len(reqs), i)
	}
	var m map[string]any
	if err := json.Unmarshal(reqs[i].Body, &m); err != nil {
		t.Fatalf("request %d body: %v", i, err)
	}
	return m
}

// drain collects a stream's events and its error.
func drain(stream iter.Seq2[llm.Event, error]) ([]llm.Event, error) {
	var evs []llm.Event
	for ev, err := range stream {
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// asError returns err as an *llm.Error, failing the test if it is not one.
func asError(t *testing.T, err error) *llm.Error {
	t.Helper()
	if err == nil {
		t.Fatal("err = nil, want an error")
	}
	e, ok := errors.AsType[*llm.Error](err)
	if !ok {
		t.Fatalf("err = %T %v, want *llm.Error", err, err)
	}
	return e
}
