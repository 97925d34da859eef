package anthropicwire_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/server/anthropicwire"
	"github.com/keelai/keel/server/backend"
)

// models is a backend.Models over fixed models, by name.
type models map[string]llm.Model

func (ms models) Open(_ context.Context, name string) (llm.Model, error) {
	m, ok := ms[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", backend.ErrUnknownModel, name)
	}
	return m, nil
}

func (ms models) List(context.Context) []backend.ModelInfo {
	var out []backend.ModelInfo
	for _, name := range []string{"fake/model", "openai/gpt-4.1-mini", "counting/model"} {
		if _, ok := ms[name]; ok {
			p, _, _ := strings.Cut(name, "/")
			out = append(out, backend.ModelInfo{ID: name, Provider: p, Target: name, Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
		}
	}
	return out
}

// env is the gateway over ms on a test server, and an SDK client of it.
type env struct {
	srv    *httptest.Server
	client anthropic.Client
}

func newEnv(t *testing.T, ms models, o anthropicwire.Options) *env {
	t.Helper()
	srv := httptest.NewServer(anthropicwire.New(ms, o))
	t.Cleanup(srv.Close)
	return &env{
		srv: srv,
		client: anthropic.NewClient(
			option.WithoutEnvironmentDefaults(),
			option.WithBaseURL(srv.URL),
			option.WithAPIKey("sk-ant-test"),
			option.WithMaxRetries(0), // a retry would hide the status under test
		),
	}
}

// post sends body to path and returns the response with its body read.
func (e *env) post(t *testing.T, path, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(e.srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// sseEvent is one server-sent event as sent on the wire.
type sseEvent struct {
	name string
	data map[string]any
}

// events sends a streamed request by hand and returns every event, so that
// tests can check the exact sequence an SDK would smooth over.
func (e *env) events(t *testing.T, body string) []sseEvent {
	t.Helper()
	resp, err := http.Post(e.srv.URL+"/v1/messages", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.data); err != nil {
				t.Fatalf("event %s: data is not JSON: %v", cur.name, err)
			}
		case line == "":
			out = append(out, cur)
			cur = sseEvent{}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func names(evs []sseEvent) string {
	var b strings.Builder
	for i, ev := range evs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(ev.name)
	}
	return b.String()
}

// stream sends params streamed and returns the accumulated message.
func (e *env) stream(t *testing.T, params anthropic.MessageNewParams) (anthropic.Message, error) {
	t.Helper()
	s := e.client.Messages.NewStreaming(t.Context(), params)
	defer s.Close()
	var msg anthropic.Message
	for s.Next() {
		if err := msg.Accumulate(s.Current()); err != nil {
			t.Fatalf("Accumulate: %v", err)
		}
	}
	return msg, s.Err()
}

func userText(s string) anthropic.MessageParam {
	return anthropic.NewUserMessage(anthropic.NewTextBlock(s))
}
