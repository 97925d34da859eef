package redis

import (
	"bytes"
	"testing"
	"time"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/middleware/respcache"
)

func cachedReq(text string) *llm.Request {
	return &llm.Request{Messages: []llm.Message{llm.UserText(text)}, Temperature: llm.Float(0)}
}

// TestCacheSharedByReplicas: replica A answers and caches; replica B, on
// the same Redis, answers the same request from the cache without calling
// its model.
func TestCacheSharedByReplicas(t *testing.T) {
	a, b := replicas(t, nil)
	modelA := llmtest.NewModel("openai/gpt-4.1", llmtest.Text("from A"))
	modelB := llmtest.NewModel("openai/gpt-4.1", llmtest.Text("from B"))
	cacheA := respcache.New(a.Cache(CacheOptions{}), respcache.Options{TTL: time.Hour})
	cacheB := respcache.New(b.Cache(CacheOptions{}), respcache.Options{TTL: time.Hour})
	onA, onB := cacheA.Middleware()(modelA), cacheB.Middleware()(modelB)

	r1, err := onA.Generate(t.Context(), cachedReq("hello"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := onB.Generate(t.Context(), cachedReq("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if got := r2.Text(); got != "from A" || r1.Text() != "from A" {
		t.Errorf("replica B answered %q, want A's cached %q", got, "from A")
	}
	if n := len(modelB.Requests()); n != 0 {
		t.Errorf("replica B called its model %d times, want a cache hit", n)
	}
	if s := cacheB.Stats(); s.Hits != 1 {
		t.Errorf("replica B stats %+v, want 1 hit", s)
	}
	// A stream on B replays the hit too.
	var text string
	for ev, err := range onB.Stream(t.Context(), cachedReq("hello")) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == llm.EventDone {
			text = ev.Response.Text()
		}
	}
	if text != "from A" || len(modelB.Requests()) != 0 {
		t.Errorf("stream on B: %q with %d model calls, want A's cached answer", text, len(modelB.Requests()))
	}
}

func TestCacheTTL(t *testing.T) {
	c := testClient(t)
	s := c.Cache(CacheOptions{})
	if err := s.Set(t.Context(), "k", []byte("v"), 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Get(t.Context(), "k"); err != nil || !ok || string(v) != "v" {
		t.Fatalf("Get = %q, %v, %v; want the fresh value", v, ok, err)
	}
	ttl, err := c.rdb.PTTL(t.Context(), c.prefix+"cache:k").Result()
	if err != nil || ttl <= 0 || ttl > 200*time.Millisecond {
		t.Fatalf("PTTL %v (err %v), want in (0, 200ms]", ttl, err)
	}
	// Redis expires the entry on its own clock: wait for it, however
	// slow the machine, rather than assert a time.
	for {
		_, ok, err := s.Get(t.Context(), "k")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCacheBounds(t *testing.T) {
	c := testClient(t)
	s := c.Cache(CacheOptions{MaxValue: 10, MaxTTL: time.Minute})
	if err := s.Set(t.Context(), "big", bytes.Repeat([]byte("x"), 11), 0); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(t.Context(), "big"); ok {
		t.Error("a value over MaxValue was stored")
	}
	if err := s.Set(t.Context(), "forever", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	ttl, err := c.rdb.TTL(t.Context(), c.prefix+"cache:forever").Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Errorf("an entry stored without TTL has TTL %v (err %v), want MaxTTL", ttl, err)
	}
	if _, ok, err := s.Get(t.Context(), "absent"); ok || err != nil {
		t.Errorf("Get of an absent key: ok=%v err=%v", ok, err)
	}
}
