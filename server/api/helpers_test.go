package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/middleware"
	"github.com/keelai/keel/server/backend"
	"github.com/keelai/keel/store/sqlite"
	"github.com/keelai/keel/store/state"
	"github.com/keelai/keel/tool"
)

const fakeName = "fake/model"

// fakeModels serves models by name, each wrapped in the server's
// middleware stack with a price for the fake, so that responses carry a
// cost as they do in `keel serve`.
type fakeModels struct {
	models map[string]llm.Model
}

func newFakeModels(t *testing.T, ms ...llm.Model) *fakeModels {
	t.Helper()
	prices, err := cost.NewTable(map[string]cost.Price{fakeName: {Input: 3, Output: 15}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeModels{models: map[string]llm.Model{}}
	for _, m := range ms {
		f.models[m.Name()] = middleware.Stack(middleware.StackOptions{Prices: prices, NoBreaker: true, NoGuard: true})(m)
	}
	return f
}

func (f *fakeModels) Open(_ context.Context, name string) (llm.Model, error) {
	m, ok := f.models[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", backend.ErrUnknownModel, name)
	}
	return m, nil
}

func (f *fakeModels) List(context.Context) []backend.ModelInfo {
	var out []backend.ModelInfo
	for name := range f.models {
		out = append(out, backend.ModelInfo{ID: name, Provider: "fake", Target: name, Default: name == fakeName})
	}
	return out
}

// failingState is the SQLite state whose appends can be made to fail.
type failingState struct {
	state.Store
	failAppend error
}

func (s *failingState) AppendMessages(ctx context.Context, owner, id string, msgs ...state.Message) error {
	if s.failAppend != nil {
		return s.failAppend
	}
	return s.Store.AppendMessages(ctx, owner, id, msgs...)
}

type env struct {
	t     *testing.T
	srv   *httptest.Server
	state *failingState
	rag   *sqlite.Store
	model *llmtest.Model
	h     *handler
}

type envOption func(*Deps)

func withTools(ts ...tool.Tool) envOption {
	return func(d *Deps) {
		r, err := tool.NewRegistry(ts)
		if err != nil {
			panic(err)
		}
		d.Tools = r
	}
}

func withModel(m llm.Model) envOption {
	return func(d *Deps) { d.Models.(*fakeModels).models[fakeName] = m }
}

// newEnv serves the API over httptest with the scripted fake model, the
// SQLite state and RAG store in a temporary file. The test header
// X-Test-Key plays the server's authentication: it becomes the caller.
func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, model: llmtest.NewModel(fakeName)}
	// One file holds both, as in `keel serve`.
	db := filepath.Join(t.TempDir(), "keel.db")
	st, err := sqlite.Open(t.Context(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.rag = st
	ss, err := sqlite.OpenState(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	e.state = &failingState{Store: ss}
	d := Deps{Models: newFakeModels(t, e.model), State: e.state, RAG: st, DefaultModel: fakeName}
	for _, o := range opts {
		o(&d)
	}
	e.h = newHandler(d)
	e.srv = httptest.NewServer(withCallerFromHeader(e.h.routes()))
	t.Cleanup(e.srv.Close)
	return e
}

type sseEvent struct {
	Name string
	Data json.RawMessage
}

func (ev sseEvent) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(ev.Data, v); err != nil {
		t.Fatalf("event %s: %v (data %s)", ev.Name, err, ev.Data)
	}
}

// readSSE parses an event stream to its end.
func readSSE(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var evs []sseEvent
	for ev := range sseEvents(r) {
		evs = append(evs, ev)
	}
	return evs
}

func sseEvents(r io.Reader) func(func(sseEvent) bool) {
	return func(yield func(sseEvent) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.Name != "" {
					if !yield(cur) {
						return
					}
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				cur.Name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				cur.Data = json.RawMessage(strings.TrimPrefix(line, "data: "))
			}
		}
	}
}

func names(evs []sseEvent) string {
	var ns []string
	for _, ev := range evs {
		if len(ns) > 0 && ev.Name == "delta" && ns[len(ns)-1] == "delta*" {
			continue
		}
		if ev.Name == "delta" {
			ns = append(ns, "delta*")
			continue
		}
		ns = append(ns, ev.Name)
	}
	return strings.Join(ns, " ")
}

func (e *env) do(method, path, key string, body io.Reader, contentType string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("X-Test-Key", key)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// chat posts a chat request and returns the stream's events.
func (e *env) chat(key string, req map[string]any) []sseEvent {
	e.t.Helper()
	b, _ := json.Marshal(req)
	resp := e.do("POST", "/api/chat", key, bytes.NewReader(b), "application/json")
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("POST /api/chat: %s: %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		e.t.Fatalf("Content-Type %q", ct)
	}
	return readSSE(e.t, resp.Body)
}

// getJSON fetches path and decodes its body into v, checking the status.
func (e *env) getJSON(method, path, key string, want int, v any) {
	e.t.Helper()
	resp := e.do(method, path, key, nil, "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: %s, want %d: %s", method, path, resp.Status, want, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, body)
		}
	}
}

type file struct{ name, content string }

// upload posts files to a collection and returns the status and body.
func (e *env) upload(collection string, files ...file) (int, string) {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range files {
		w, err := mw.CreateFormFile("file", f.name)
		if err != nil {
			e.t.Fatal(err)
		}
		io.WriteString(w, f.content)
	}
	mw.Close()
	resp := e.do("POST", "/api/collections/"+collection+"/documents", "", &buf, mw.FormDataContentType())
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// withCallerFromHeader plays the server's authentication: the test header
// X-Test-Key becomes the caller's key id.
func withCallerFromHeader(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := r.Header.Get("X-Test-Key"); k != "" {
			r = r.WithContext(backend.WithCaller(r.Context(), backend.Caller{KeyID: k, Name: k}))
		}
		h.ServeHTTP(w, r)
	})
}
