package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/keelai/keel/internal/testenv"
	"github.com/keelai/keel/server"
	"github.com/keelai/keel/store/postgres"
	"github.com/keelai/keel/store/postgres/pgtest"
	"github.com/keelai/keel/store/redis"
	"github.com/keelai/keel/store/state"
)

// sseEvent returns the data of the first event called name in an SSE body.
func sseEvent(body, name string) string {
	for block := range strings.SplitSeq(body, "\n\n") {
		var ev, data string
		for line := range strings.Lines(block) {
			line = strings.TrimRight(line, "\n")
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				ev = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				data = v
			}
		}
		if ev == name {
			return data
		}
	}
	return ""
}

// TestTwoReplicas runs two servers on one PostgreSQL schema and one Redis
// prefix, as two replicas behind a load balancer.
func TestTwoReplicas(t *testing.T) {
	pgURL := pgtest.Schema(t)
	redisURL := testenv.Service(t, testenv.RedisURL)
	ctx := context.Background()
	rc, err := redis.Open(ctx, redisURL)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "keeltest:server:" + state.NewID() + ":"
	rc = rc.WithPrefix(prefix)
	t.Cleanup(func() {
		keys, _ := rc.Redis().Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rc.Redis().Del(context.Background(), keys...)
		}
		rc.Close()
	})
	replica := func() *env {
		st, err := postgres.Open(ctx, pgURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return newEnv(t, envOptions{st: st, opts: func(o *server.Options) {
			o.Limiter, o.BudgetStore, o.Cache, o.Ready = rc.KeyLimiter(), rc.BudgetStore(), rc.Cache(redis.CacheOptions{}), rc.Ping
		}})
	}
	a, b := replica(), replica()
	secret, _ := a.key("shared", 5, 0)
	other, _ := b.key("other", 0, 0)
	auth := "Authorization: Bearer " + secret

	// A conversation started on A…
	code, _, body := a.do("POST", "/api/chat", `{"message":"first question"}`, auth)
	if code != 200 || sseEvent(body, "done") == "" {
		t.Fatalf("chat on A: %d %s", code, body)
	}
	var conv struct{ ID string }
	if err := json.Unmarshal([]byte(sseEvent(body, "conversation")), &conv); err != nil || conv.ID == "" {
		t.Fatalf("no conversation event: %s", body)
	}
	// …continues on B, with A's turns in its history.
	code, _, body = b.do("POST", "/api/chat", `{"message":"second question","conversation_id":"`+conv.ID+`"}`, auth)
	if code != 200 || sseEvent(body, "done") == "" {
		t.Fatalf("chat on B: %d %s", code, body)
	}
	reqs := b.openai.Requests()
	if len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), "first question") {
		t.Errorf("B's upstream request lacks A's turn")
	}
	code, _, body = b.do("GET", "/api/conversations/"+conv.ID, "", auth)
	var got struct{ Messages []json.RawMessage }
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || len(got.Messages) != 4 {
		t.Errorf("conversation on B: %d, %d messages; %s", code, len(got.Messages), body)
	}
	// Another key cannot see it, on either replica.
	if code, _, _ := a.do("GET", "/api/conversations/"+conv.ID, "", "Authorization: Bearer "+other); code != http.StatusNotFound {
		t.Errorf("another key reading the conversation: %d, want 404", code)
	}

	// The key's limit (5 a minute) holds across both: three requests so
	// far, one more on each replica, then both refuse.
	if code, _, _ := a.do("POST", "/v1/chat/completions", chatBody, auth); code != 200 {
		t.Errorf("4th request: %d", code)
	}
	if code, _, _ := b.do("POST", "/v1/chat/completions", chatBody, auth); code != 200 {
		t.Errorf("5th request: %d", code)
	}
	for _, e := range []*env{a, b} {
		if code, h, body := e.do("POST", "/v1/chat/completions", chatBody, auth); code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
			t.Errorf("6th request: %d %s, want 429 with retry-after", code, body)
		}
	}
	if code, _, _ := a.do("GET", "/readyz", ""); code != 200 {
		t.Errorf("readyz on a replica with PostgreSQL and Redis: %d", code)
	}
}
