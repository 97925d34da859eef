package embed

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/rag"
)

const secret = "sk-test-abcdefghijklmnop"

// fakeVec is what the fake servers return for a text: its length and its
// first byte, padded to dims, so tests can check order.
func fakeVec(text string, dims int) []float32 {
	v := make([]float32, dims)
	v[0] = float32(len(text))
	if dims > 1 {
		v[1] = float32(text[0])
	}
	return v
}

// server is an httptest server whose handler the test sets per case; it
// records every request body.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
	heads  []http.Header
	paths  []string
}

func newServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request, body map[string]any)) *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		json.Unmarshal(raw, &body)
		s.mu.Lock()
		s.bodies = append(s.bodies, body)
		s.heads = append(s.heads, r.Header.Clone())
		s.paths = append(s.paths, r.URL.Path)
		s.mu.Unlock()
		h(w, r, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// openAIHandler answers /embeddings in OpenAI's shape, in reverse order to
// check that the client sorts by index.
func openAIHandler(dims int) func(http.ResponseWriter, *http.Request, map[string]any) {
	return func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		in := strs(body["input"])
		var data []map[string]any
		for i := len(in) - 1; i >= 0; i-- {
			data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": fakeVec(in[i], dims)})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": body["model"], "usage": map[string]any{"prompt_tokens": 1, "total_tokens": 1}})
	}
}

func TestOpenAIBatches(t *testing.T) {
	s := newServer(t, openAIHandler(8))
	e, err := NewOpenAI(Options{Model: "text-embedding-3-small", APIKey: secret, BaseURL: s.URL, Dimensions: 8, BatchSize: 2})
	must(t, err)
	texts := []string{"a", "bb", "ccc", "dddd", "eeeee"}
	got, err := e.Embed(context.Background(), texts)
	must(t, err)
	var want [][]float32
	for _, tx := range texts {
		want = append(want, fakeVec(tx, 8))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("vectors (-want +got)\n%s", d)
	}
	if n := s.requests(); n != 3 {
		t.Errorf("%d requests, want 3 batches of at most 2", n)
	}
	for i, b := range s.bodies {
		if b["model"] != "text-embedding-3-small" || b["dimensions"] != float64(8) {
			t.Errorf("request %d: model %v dimensions %v", i, b["model"], b["dimensions"])
		}
		if got := s.heads[i].Get("Authorization"); got != "Bearer "+secret {
			t.Errorf("request %d: Authorization %q", i, got)
		}
		if s.paths[i] != "/embeddings" {
			t.Errorf("request %d: path %q", i, s.paths[i])
		}
	}
	if e.Name() != "openai/text-embedding-3-small" || e.Dimensions() != 8 || e.Fingerprint() != "openai/text-embedding-3-small@8" {
		t.Errorf("Name %q Dimensions %d Fingerprint %q", e.Name(), e.Dimensions(), e.Fingerprint())
	}
}

// TestConcurrencyBound holds requests at a barrier: two must be in flight
// together (so the test can see a third if the bound were broken), and
// never more than two.
func TestConcurrencyBound(t *testing.T) {
	var mu sync.Mutex
	inflight, most := 0, 0
	twoIn := make(chan struct{})
	var once sync.Once
	h := openAIHandler(4)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		mu.Lock()
		inflight++
		most = max(most, inflight)
		if inflight == 2 {
			once.Do(func() { close(twoIn) })
		}
		mu.Unlock()
		<-twoIn
		h(w, r, body)
		mu.Lock()
		inflight--
		mu.Unlock()
	})
	e, err := NewOpenAI(Options{Model: "m", BaseURL: s.URL, BatchSize: 1, Concurrency: 2})
	must(t, err)
	_, err = e.Embed(context.Background(), []string{"a", "b", "c", "d", "e", "f"})
	must(t, err)
	if most != 2 {
		t.Errorf("at most %d requests in flight, want exactly 2", most)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		header     http.Header
		body       string
		kind       llm.ErrorKind
		retryAfter time.Duration
	}{
		{"rate limited", 429, http.Header{"Retry-After": {"7"}}, `{"error":{"message":"slow down","type":"rate_limit"}}`, llm.KindRateLimited, 7 * time.Second},
		{"auth echoes key", 401, nil, `{"error":{"message":"Incorrect API key provided: ` + secret + `","type":"invalid_request_error"}}`, llm.KindAuth, 0},
		{"server", 500, nil, `{"error":{"message":"boom"}}`, llm.KindServer, 0},
		{"overloaded", 503, nil, `oops`, llm.KindOverloaded, 0},
		{"malformed 200", 200, nil, `{"data": oops}`, llm.KindServer, 0},
		{"truncated 200 (a cut connection)", 200, nil, `{"data": [`, llm.KindNetwork, 0},
		{"too few vectors", 200, nil, `{"object":"list","data":[{"index":0,"embedding":[1,2]}]}`, llm.KindServer, 0},
		{"wrong size", 200, nil, `{"object":"list","data":[{"index":0,"embedding":[1]},{"index":1,"embedding":[1,2]}]}`, llm.KindServer, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for name, mk := range map[string]func(string) (rag.Embedder, error){
				"openai": func(u string) (rag.Embedder, error) {
					return NewOpenAI(Options{Model: "m", APIKey: secret, BaseURL: u})
				},
				"voyage": func(u string) (rag.Embedder, error) {
					return NewVoyage(Options{Model: "m", APIKey: secret, BaseURL: u})
				},
			} {
				s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
					for k, vs := range tc.header {
						w.Header()[k] = vs
					}
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(tc.status)
					io.WriteString(w, tc.body)
				})
				e, err := mk(s.URL)
				must(t, err)
				_, err = e.Embed(context.Background(), []string{"x", "y"})
				le, ok := errors.AsType[*llm.Error](err)
				if !ok {
					t.Fatalf("%s: error %v (%T), want *llm.Error", name, err, err)
				}
				if le.Kind != tc.kind || le.RetryAfter != tc.retryAfter {
					t.Errorf("%s: kind %s retry-after %v, want %s %v (%v)", name, le.Kind, le.RetryAfter, tc.kind, tc.retryAfter, err)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("%s: error leaks the key: %v", name, err)
				}
			}
		})
	}
}

func TestInvalidInput(t *testing.T) {
	s := newServer(t, openAIHandler(4))
	e, err := NewOpenAI(Options{Model: "m", BaseURL: s.URL})
	must(t, err)
	_, err = e.Embed(context.Background(), []string{"ok", ""})
	if llm.KindOf(err) != llm.KindInvalidRequest || !strings.Contains(err.Error(), "text 1 is empty") {
		t.Errorf("empty text: %v", err)
	}
	if s.requests() != 0 {
		t.Error("an empty text was sent")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Embed(ctx, []string{"x"}); llm.KindOf(err) != llm.KindCanceled {
		t.Errorf("canceled: %v", err)
	}
	for _, o := range []Options{{}, {Model: "m", Concurrency: -1}} {
		if _, err := NewOpenAI(o); err == nil {
			t.Errorf("NewOpenAI(%+v) accepted", o)
		}
	}
}

// TestMiddlewareRetries passes a minimal retry middleware: the batch that
// failed with 503 is sent again and the call succeeds.
func TestMiddlewareRetries(t *testing.T) {
	fail := true
	h := openAIHandler(4)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if fail {
			fail = false
			w.WriteHeader(503)
			return
		}
		h(w, r, body)
	})
	var names []string
	retryOnce := func(next llm.Model) llm.Model {
		return llm.Funcs{Next: next, GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
			names = append(names, next.Name())
			resp, err := next.Generate(ctx, req)
			if llm.IsRetryable(err) {
				return next.Generate(ctx, req)
			}
			return resp, err
		}}
	}
	e, err := NewOpenAI(Options{Model: "m", BaseURL: s.URL, Concurrency: 1, Middleware: []llm.Middleware{retryOnce}})
	must(t, err)
	got, err := e.Embed(context.Background(), []string{"abc"})
	must(t, err)
	if d := cmp.Diff([][]float32{fakeVec("abc", 4)}, got); d != "" {
		t.Error(d)
	}
	if s.requests() != 2 || !cmp.Equal(names, []string{"openai/m"}) {
		t.Errorf("%d requests, middleware saw %v", s.requests(), names)
	}
}

func TestOllama(t *testing.T) {
	s := newServer(t, openAIHandler(3))
	host := strings.TrimPrefix(s.URL, "http://")
	e, err := NewOllama(host, Options{Model: "nomic-embed-text"})
	must(t, err)
	if _, err := e.Embed(context.Background(), []string{"hi"}); err != nil {
		t.Fatal(err)
	}
	if s.paths[0] != "/v1/embeddings" || s.heads[0].Get("Authorization") != "" {
		t.Errorf("path %q, Authorization %q", s.paths[0], s.heads[0].Get("Authorization"))
	}
	// The size is learnt from the first answer.
	if e.Name() != "ollama/nomic-embed-text" || e.Dimensions() != 3 {
		t.Errorf("Name %q Dimensions %d", e.Name(), e.Dimensions())
	}
}

func TestVoyage(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		in := strs(body["input"])
		var data []map[string]any
		for i, tx := range in {
			data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": fakeVec(tx, 4)})
		}
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": body["model"]})
	})
	e, err := NewVoyage(Options{Model: "voyage-3.5", APIKey: secret, BaseURL: s.URL + "/v1", Dimensions: 4})
	must(t, err)
	_, err = e.Embed(context.Background(), []string{"doc"})
	must(t, err)
	q, err := e.EmbedQuery(context.Background(), "question")
	must(t, err)
	if d := cmp.Diff(fakeVec("question", 4), q); d != "" {
		t.Error(d)
	}
	want := []map[string]any{
		{"input": []any{"doc"}, "model": "voyage-3.5", "input_type": "document", "output_dimension": float64(4)},
		{"input": []any{"question"}, "model": "voyage-3.5", "input_type": "query", "output_dimension": float64(4)},
	}
	if d := cmp.Diff(want, s.bodies); d != "" {
		t.Errorf("request bodies (-want +got)\n%s", d)
	}
	if s.paths[0] != "/v1/embeddings" || s.heads[0].Get("Authorization") != "Bearer "+secret {
		t.Errorf("path %q auth %q", s.paths[0], s.heads[0].Get("Authorization"))
	}
}

func TestGemini(t *testing.T) {
	fail := true
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if fail {
			fail = false
			w.Header().Set("Retry-After", "3")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(429)
			io.WriteString(w, `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`)
			return
		}
		var embs []map[string]any
		for _, req := range body["requests"].([]any) {
			parts := req.(map[string]any)["content"].(map[string]any)["parts"].([]any)
			embs = append(embs, map[string]any{"values": fakeVec(parts[0].(map[string]any)["text"].(string), 5)})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"embeddings": embs})
	})
	e, err := NewGemini(Options{Model: "gemini-embedding-001", APIKey: secret, BaseURL: s.URL, Dimensions: 5})
	must(t, err)
	_, err = e.Embed(context.Background(), []string{"x"})
	le, ok := errors.AsType[*llm.Error](err)
	if !ok || le.Kind != llm.KindRateLimited || le.RetryAfter != 3*time.Second || le.Provider != "gemini" {
		t.Fatalf("first call: %v, want rate_limited with retry-after 3s", err)
	}
	got, err := e.Embed(context.Background(), []string{"ab", "cde"})
	must(t, err)
	if d := cmp.Diff([][]float32{fakeVec("ab", 5), fakeVec("cde", 5)}, got); d != "" {
		t.Error(d)
	}
	_, err = e.EmbedQuery(context.Background(), "q?")
	must(t, err)
	if want := "/v1beta/models/gemini-embedding-001:batchEmbedContents"; s.paths[1] != want {
		t.Errorf("path %q, want %q", s.paths[1], want)
	}
	if got := s.heads[1].Get("x-goog-api-key"); got != secret {
		t.Errorf("x-goog-api-key %q", got)
	}
	for i, task := range map[int]string{1: "RETRIEVAL_DOCUMENT", 2: "RETRIEVAL_QUERY"} {
		req := s.bodies[i]["requests"].([]any)[0].(map[string]any)
		if req["taskType"] != task || req["outputDimensionality"] != float64(5) {
			t.Errorf("request %d: taskType %v outputDimensionality %v", i, req["taskType"], req["outputDimensionality"])
		}
	}
	if e.Dimensions() != 5 || e.Name() != "gemini/gemini-embedding-001" {
		t.Errorf("Name %q Dimensions %d", e.Name(), e.Dimensions())
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
