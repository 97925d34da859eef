package respcache_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/middleware/callinfo"
	"github.com/keelai/keel/middleware/respcache"
)

func req(text string) *llm.Request {
	return &llm.Request{Messages: []llm.Message{llm.UserText(text)}, Temperature: llm.Float(0)}
}

func TestHitAfterMiss(t *testing.T) {
	for _, store := range stores(t) {
		t.Run(store.name, func(t *testing.T) {
			fake := llmtest.NewModel("fake/m", llmtest.Text("forty two"))
			c := respcache.New(store.s, respcache.Options{TTL: time.Hour})
			m := c.Middleware()(fake)

			ctx, info := callinfo.Ensure(t.Context())
			first, err := m.Generate(ctx, req("q"))
			if err != nil {
				t.Fatal(err)
			}
			if info.Record().CacheHit {
				t.Error("first call marked as a hit")
			}
			ctx, info = callinfo.Ensure(t.Context())
			second, err := m.Generate(ctx, req("q"))
			if err != nil {
				t.Fatal(err)
			}
			if !info.Record().CacheHit {
				t.Error("second call not marked as a hit")
			}
			if n := len(fake.Requests()); n != 1 {
				t.Errorf("model got %d requests, want 1", n)
			}
			if second.Text() != first.Text() || second.Model != "fake/m" || second.StopReason != llm.StopEndTurn {
				t.Errorf("hit = %+v, want the first response", second)
			}
			if second.Usage != (llm.Usage{}) {
				t.Errorf("hit usage = %+v, want zero: a hit consumes no tokens", second.Usage)
			}
			// A stream of the same request replays the hit.
			ctx, info = callinfo.Ensure(t.Context())
			streamed, err := llm.Collect(m.Stream(ctx, req("q")))
			if err != nil || streamed.Text() != "forty two" || !info.Record().CacheHit {
				t.Errorf("streamed hit: %v, %v, hit=%v", streamed, err, info.Record().CacheHit)
			}
			if diff := cmp.Diff(respcache.Stats{Hits: 2, Misses: 1, Stores: 1}, c.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStreamMissIsStored(t *testing.T) {
	fake := llmtest.NewModel("fake/m", llmtest.Text("a b c"))
	m := respcache.New(respcache.NewMemory(1<<20), respcache.Options{}).Middleware()(fake)
	if _, err := llm.Collect(m.Stream(t.Context(), req("q"))); err != nil {
		t.Fatal(err)
	}
	resp, err := m.Generate(t.Context(), req("q"))
	if err != nil || resp.Text() != "a b c" {
		t.Fatalf("generate after a streamed miss: %v, %v", resp, err)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestStreamAbandonedIsNotStored(t *testing.T) {
	fake := llmtest.NewModel("fake/m", llmtest.Text("a b c"), llmtest.Text("again"))
	m := respcache.New(respcache.NewMemory(1<<20), respcache.Options{}).Middleware()(fake)
	for range m.Stream(t.Context(), req("q")) {
		break
	}
	if resp, _ := m.Generate(t.Context(), req("q")); resp.Text() != "again" {
		t.Errorf("got %q: a stream the caller abandoned must not be cached", resp.Text())
	}
}

func TestCacheablePolicy(t *testing.T) {
	warm := func(tags map[string]string, temp *float64) bool {
		fake := llmtest.NewEcho("fake/m")
		m := respcache.New(respcache.NewMemory(1<<20), respcache.Options{}).Middleware()(fake)
		r := &llm.Request{Messages: []llm.Message{llm.UserText("q")}, Temperature: temp, Tags: tags}
		m.Generate(t.Context(), r)
		m.Generate(t.Context(), r)
		return len(fake.Requests()) == 1
	}
	for _, tt := range []struct {
		name string
		tags map[string]string
		temp *float64
		want bool
	}{
		{"temperature 0", nil, llm.Float(0), true},
		{"temperature 0.7", nil, llm.Float(0.7), false},
		{"default temperature", nil, nil, false},
		{"asked", map[string]string{"cache": "on"}, llm.Float(1), true},
		{"refused", map[string]string{"cache": "off"}, llm.Float(0), false},
	} {
		if got := warm(tt.tags, tt.temp); got != tt.want {
			t.Errorf("%s: cached = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestKey(t *testing.T) {
	base := func() *llm.Request {
		return &llm.Request{
			System:      []llm.Text{{Text: "be brief"}},
			Messages:    []llm.Message{llm.UserText("q")},
			Tools:       []llm.Tool{{Name: "f", InputSchema: json.RawMessage(`{"type":"object"}`)}},
			Temperature: llm.Float(0),
			Tags:        map[string]string{"prompt": "p", "repeat": "0"},
		}
	}
	k0, err := respcache.Key("a/m", base())
	if err != nil {
		t.Fatal(err)
	}
	same := map[string]func(*llm.Request){
		"other tags":        func(r *llm.Request) { r.Tags["prompt"] = "other"; r.Tags["key"] = "k" },
		"schema whitespace": func(r *llm.Request) { r.Tools[0].InputSchema = json.RawMessage("{ \"type\" :\n \"object\" }") },
	}
	for name, change := range same {
		r := base()
		change(r)
		if k, _ := respcache.Key("a/m", r); k != k0 {
			t.Errorf("%s changed the key", name)
		}
	}
	differ := map[string]func(*llm.Request){
		"repeat index":            func(r *llm.Request) { r.Tags["repeat"] = "1" },
		"system":                  func(r *llm.Request) { r.System[0].Text = "be long" },
		"message":                 func(r *llm.Request) { r.Messages[0] = llm.UserText("Q") },
		"temperature":             func(r *llm.Request) { r.Temperature = llm.Float(0.1) },
		"max tokens":              func(r *llm.Request) { r.MaxTokens = 10 },
		"tool":                    func(r *llm.Request) { r.Tools[0].Description = "d" },
		"cache marker":            func(r *llm.Request) { r.System[0].Cache = &llm.CacheControl{} },
		"stop":                    func(r *llm.Request) { r.StopSequences = []string{"x"} },
		"top k":                   func(r *llm.Request) { r.TopK = 40 },
		"one tool call at a time": func(r *llm.Request) { r.ParallelToolCalls = new(false) },
		"parallel tool calls set": func(r *llm.Request) { r.ParallelToolCalls = new(true) },
	}
	for name, change := range differ {
		r := base()
		change(r)
		if k, _ := respcache.Key("a/m", r); k == k0 {
			t.Errorf("%s did not change the key", name)
		}
	}
	if k, _ := respcache.Key("b/m", base()); k == k0 {
		t.Error("the model did not change the key")
	}
}

func TestMemoryBoundInBytesEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := t.Context()
	value := []byte(strings.Repeat("x", 839)) // 1000 bytes with key and overhead
	m := respcache.NewMemory(3000)
	m.Set(ctx, "a", value, 0)
	m.Set(ctx, "b", value, 0)
	m.Set(ctx, "c", value, 0)
	m.Get(ctx, "a") // a is now the most recent
	m.Set(ctx, "d", value, 0)
	var present []string
	for _, k := range []string{"a", "b", "c", "d"} {
		if _, ok, _ := m.Get(ctx, k); ok {
			present = append(present, k)
		}
	}
	if diff := cmp.Diff([]string{"a", "c", "d"}, present); diff != "" {
		t.Errorf("present (-want +got):\n%s", diff)
	}
	if n, size := m.Len(); n != 3 || size != 3000 {
		t.Errorf("len = %d entries, %d bytes", n, size)
	}
	m.Set(ctx, "huge", make([]byte, 5000), 0)
	if _, ok, _ := m.Get(ctx, "huge"); ok {
		t.Error("a value over the whole bound was stored")
	}
}

func TestExpiry(t *testing.T) {
	clock := clockwork.NewFakeClock()
	db, err := respcache.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, s := range map[string]respcache.Store{"memory": respcache.NewMemory(1<<20, clock), "sqlite": db.WithClock(clock)} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s.Set(ctx, "k", []byte("v"), time.Minute)
			s.Set(ctx, "forever", []byte("v"), 0)
			clock.Advance(59 * time.Second)
			if _, ok, _ := s.Get(ctx, "k"); !ok {
				t.Error("expired early")
			}
			clock.Advance(time.Second)
			if _, ok, _ := s.Get(ctx, "k"); ok {
				t.Error("not expired after its TTL")
			}
			if _, ok, _ := s.Get(ctx, "forever"); !ok {
				t.Error("an entry without TTL expired")
			}
		})
	}
}

func TestSQLitePersistsAndPurges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	ctx := t.Context()
	clock := clockwork.NewFakeClockAt(time.Now())
	s, err := respcache.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s = s.WithClock(clock)
	s.Set(ctx, "keep", []byte("kept"), 0)
	s.Set(ctx, "old", []byte("x"), time.Second)
	s.Set(ctx, "keep", []byte("kept twice"), 0)
	s.Close()

	s, err = respcache.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s = s.WithClock(clock)
	if v, ok, err := s.Get(ctx, "keep"); err != nil || !ok || string(v) != "kept twice" {
		t.Errorf("after reopening: %q, %v, %v", v, ok, err)
	}
	clock.Advance(time.Second)
	if n, err := s.Purge(ctx); err != nil || n != 1 {
		t.Errorf("purged %d, %v; want 1", n, err)
	}
}

type brokenStore struct{}

func (brokenStore) Get(context.Context, string) ([]byte, bool, error) {
	return nil, false, errors.New("disk on fire")
}
func (brokenStore) Set(context.Context, string, []byte, time.Duration) error {
	return errors.New("disk on fire")
}

func TestBrokenStoreDoesNotBreakCalls(t *testing.T) {
	var errs []error
	m := respcache.New(brokenStore{}, respcache.Options{OnError: func(err error) { errs = append(errs, err) }}).Middleware()(llmtest.NewEcho("fake/m"))
	resp, err := m.Generate(t.Context(), req("q"))
	if err != nil || resp.Text() != "q" {
		t.Fatalf("%v, %v", resp, err)
	}
	if len(errs) != 2 {
		t.Errorf("errors reported: %v, want the get and the set", errs)
	}
}

type stored struct {
	name string
	s    respcache.Store
}

func stores(t *testing.T) []stored {
	db, err := respcache.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return []stored{{"memory", respcache.NewMemory(1 << 20)}, {"sqlite", db}}
}
