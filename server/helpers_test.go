package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/provider"
	"github.com/keelai/keel/server"
	"github.com/keelai/keel/store/sqlite"
	"github.com/keelai/keel/store/state"
)

// env is a running server in front of the OpenAI and Anthropic wire
// emulators, on loopback, with its state in a temporary SQLite file.
type env struct {
	t   *testing.T
	URL string
	srv *server.Server
	st  state.Store
	// res is the server's resolver: its pooled connections to the
	// emulators are idle goroutines, not leaks.
	res       *provider.Resolver
	openai    *openaitest.Server
	anthropic *anthropictest.Server
	logs      *syncBuffer
	cancel    context.CancelFunc
	served    chan error
}

type envOptions struct {
	// cfg edits the configuration before the server is built.
	cfg func(*config.Config)
	// opts edits the options.
	opts func(*server.Options)
	// st, when set, is the state store (else a fresh SQLite one).
	st state.Store
	// listen is the address to listen on (default 127.0.0.1:0).
	listen string
}

// testConfig routes "gpt" and the default to the OpenAI emulator and
// "claude" to the Anthropic one.
func testConfig(oa *openaitest.Server, an *anthropictest.Server) *config.Config {
	return &config.Config{
		Providers: map[string]config.Provider{
			"openai":    {Type: config.TypeOpenAI, BaseURL: oa.URL, APIKey: "sk-upstream-secret-0001"},
			"anthropic": {Type: config.TypeAnthropic, BaseURL: an.URL, APIKey: "sk-ant-upstream-secret-0002"},
		},
		Models: map[string]config.Model{
			"default": {Provider: "openai", Model: "gpt-4.1-mini"},
			"gpt":     {Provider: "openai", Model: "gpt-4.1-mini"},
			"claude":  {Provider: "anthropic", Model: "claude-sonnet-4-6"},
		},
	}
}

func newEnv(t *testing.T, eo envOptions) *env {
	t.Helper()
	oa := openaitest.NewServer(t)
	an := anthropictest.NewServer(t)
	cfg := testConfig(oa, an)
	cfg.Storage.Data = t.TempDir()
	cfg.Server.ShutdownTimeout = 30 * time.Second
	if eo.cfg != nil {
		eo.cfg(cfg)
	}
	st := eo.st
	if st == nil {
		var err error
		st, err = sqlite.OpenState(context.Background(), filepath.Join(cfg.Storage.Data, "keel.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
	}
	logs := &syncBuffer{}
	res := provider.NewResolver(cfg, func(string) string { return "" })
	o := server.Options{
		Config:      cfg,
		Resolver:    res,
		State:       st,
		Logger:      slog.New(slog.NewJSONHandler(logs, nil)),
		KeyCacheTTL: -1,
	}
	if eo.opts != nil {
		eo.opts(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cmpOr(eo.listen, "127.0.0.1:0"))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	e := &env{t: t, URL: "http://" + ln.Addr().String(), srv: srv, st: st, res: res, openai: oa, anthropic: an, logs: logs,
		cancel: cancel, served: make(chan error, 1)}
	go func() { e.served <- srv.Serve(ctx, ln) }()
	t.Cleanup(e.stop)
	return e
}

// stop shuts the server down and waits for Serve to return.
func (e *env) stop() {
	e.cancel()
	select {
	case err := <-e.served:
		if err != nil {
			e.t.Errorf("Serve: %v", err)
		}
		e.served <- nil // later stops return at once
	case <-time.After(time.Minute):
		e.t.Error("Serve did not return after shutdown")
	}
	e.srv.Close()
}

// key creates an API key and returns its secret.
func (e *env) key(name string, rpm int, budget cost.USD) (string, state.Key) {
	e.t.Helper()
	secret, k := state.GenerateKey()
	k.Name, k.RPM, k.Budget = name, rpm, budget
	if err := e.st.CreateKey(context.Background(), k); err != nil {
		e.t.Fatal(err)
	}
	return secret, k
}

// do sends a request with headers given as "Name: value" and returns the
// status, headers and body.
func (e *env) do(method, path, body string, headers ...string) (int, http.Header, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// logRecords returns the JSON log records with msg.
func (e *env) logRecords(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(e.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

const chatBody = `{"model":"gpt","messages":[{"role":"user","content":"hello there"}]}`

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
