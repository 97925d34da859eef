package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelai/keel/llm/llmtest/openaitest"
)

func TestKeysCreateListRevoke(t *testing.T) {
	env := map[string]string{"KEEL_DATA": t.TempDir()}
	r := keel(t, env, "", "keys", "create", "--name", "alice", "--rpm", "60", "--budget", "2.5")
	if r.code != 0 {
		t.Fatalf("create: %d %s", r.code, r.stderr)
	}
	out := lines(r.stdout)
	secret := out[len(out)-1]
	if len(out) != 1 || !strings.HasPrefix(secret, "keel_") || len(secret) < 40 {
		t.Errorf("stdout = %q, want the key alone on its last line", r.stdout)
	}
	if strings.Contains(r.stderr, secret) {
		t.Errorf("the key is repeated on stderr")
	}

	r = keel(t, env, "", "keys", "list", "--json")
	var k struct {
		ID, Name, Prefix string
		RPM              int
		BudgetUSD        float64 `json:"budget_usd"`
		RevokedAt        *time.Time
	}
	if err := json.Unmarshal([]byte(r.stdout), &k); err != nil {
		t.Fatalf("list --json: %v: %q", err, r.stdout)
	}
	if k.Name != "alice" || k.RPM != 60 || k.BudgetUSD != 2.5 || !strings.HasPrefix(secret, k.Prefix) || k.RevokedAt != nil {
		t.Errorf("listed %+v", k)
	}
	if strings.Contains(r.stdout, secret) {
		t.Errorf("list prints the secret")
	}

	if r := keel(t, env, "", "keys", "create", "--name", "alice"); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("duplicate name: %d %q", r.code, r.stderr)
	}
	if r := keel(t, env, "", "keys", "create"); r.code != 2 || !strings.Contains(r.stderr, "--name is required") {
		t.Errorf("no name: %d %q", r.code, r.stderr)
	}
	if r := keel(t, env, "", "keys", "revoke", "alice"); r.code != 0 {
		t.Errorf("revoke: %d %q", r.code, r.stderr)
	}
	r = keel(t, env, "", "keys", "list")
	if !strings.Contains(r.stdout, "alice") || strings.Count(r.stdout, "\n") != 2 || strings.HasSuffix(strings.TrimSpace(r.stdout), "-") {
		t.Errorf("list after revoke:\n%s", r.stdout)
	}
	if r := keel(t, env, "", "keys", "revoke", "nobody"); r.code != 1 || !strings.Contains(r.stderr, "no key") {
		t.Errorf("revoke unknown: %d %q", r.code, r.stderr)
	}
}

// lineWriter hands each line written to it to a channel.
type lineWriter struct {
	mu    sync.Mutex
	buf   []byte
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		select {
		case w.lines <- string(w.buf[:i]):
		default:
		}
		w.buf = w.buf[i+1:]
	}
}

func TestServeStartsAndStops(t *testing.T) {
	upstream := openaitest.NewServer(t)
	env := openaiEnv(upstream)
	env["KEEL_DATA"] = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	stdout := &lineWriter{lines: make(chan string, 16)}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, strings.NewReader(""), stdout, io.Discard,
			func(k string) string { return env[k] })
	}()
	var url string
	select {
	case line := <-stdout.lines:
		_, url, _ = strings.Cut(line, "listening on ")
	case code := <-done:
		t.Fatalf("keel serve exited with %d", code)
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("startup line names no URL: %q", url)
	}
	resp, err := http.Post(url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"openai/gpt-4.1-mini","messages":[{"role":"user","content":"ping"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "ping") {
		t.Errorf("chat through keel serve: %d %s", resp.StatusCode, body)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("keel serve exited with %d after shutdown", code)
	}
}

func TestServeRefusesPublicAddressWithoutKeys(t *testing.T) {
	env := map[string]string{"KEEL_DATA": t.TempDir(), "OPENAI_API_KEY": openaiKey}
	r := keel(t, env, "", "serve", "--addr", "0.0.0.0:0")
	msg := oneErrorLine(t, r, 1)
	if !strings.Contains(msg, "keel keys create") || strings.Contains(r.stdout, "listening") {
		t.Errorf("stderr %q, stdout %q", msg, r.stdout)
	}
}
