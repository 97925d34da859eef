package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/middleware"
	"github.com/keelai/keel/server"
)

// streamChat sends one streamed chat completion and reads it to the end.
// It reports whether the stream ended as a complete OpenAI stream does
// ([DONE] with no error event before it).
func streamChat(ctx context.Context, c *http.Client, url, text string) (bool, error) {
	body := fmt.Sprintf(`{"model":"gpt","stream":true,"messages":[{"role":"user","content":%q}]}`, text)
	req, err := http.NewRequestWithContext(ctx, "POST", url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	s := string(b)
	if resp.StatusCode != 200 || !strings.HasSuffix(s, "data: [DONE]\n\n") || strings.Contains(s, `"error"`) {
		return false, nil
	}
	// The echo must come back whole, in order, across the deltas.
	var got strings.Builder
	for line := range strings.Lines(s) {
		data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct{ Content string }
			}
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return false, fmt.Errorf("bad chunk %q: %w", data, err)
		}
		for _, c := range chunk.Choices {
			got.WriteString(c.Delta.Content)
		}
	}
	return got.String() == text, nil
}

// goroutinesSettle waits for the goroutine count to fall to at most n,
// and returns the last count. Connections and handlers end asynchronously
// after their requests, so it polls, for up to 10 s (a loaded machine
// under the race detector takes seconds to wind connections down); it
// never asserts on time.
func goroutinesSettle(n int) int {
	var g int
	for range 1000 {
		if g = runtime.NumGoroutine(); g <= n {
			return g
		}
		time.Sleep(10 * time.Millisecond)
	}
	return g
}

func TestLoad200ConcurrentStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	e := newEnv(t, envOptions{})
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	c := &http.Client{Transport: tr}
	ctx := context.Background()
	// Warm up: models built, pools filled.
	if ok, err := streamChat(ctx, c, e.URL, "warm"); !ok || err != nil {
		t.Fatalf("warm-up stream: ok=%v err=%v", ok, err)
	}
	tr.CloseIdleConnections()
	e.res.CloseIdleConnections()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := goroutinesSettle(0)

	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			text := fmt.Sprintf("stream %d", i)
			ok, err := streamChat(ctx, c, e.URL, text)
			if err == nil && !ok {
				err = fmt.Errorf("%s: incomplete stream", text)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	tr.CloseIdleConnections()
	e.res.CloseIdleConnections() // the upstream pool keeps connections by design
	if g := goroutinesSettle(g0 + 5); g > g0+5 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after 200 streams\n%s", g0, g, buf[:runtime.Stack(buf, true)])
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grow := int64(after.HeapAlloc) - int64(before.HeapAlloc); grow > 32<<20 {
		t.Errorf("live heap grew by %d MiB over 200 streams", grow>>20)
	}
}

func TestUpstreamFaultsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	e := newEnv(t, envOptions{cfg: func(c *config.Config) {
		c.Limits.MaxAttempts = 1 // each fault reaches exactly one client
		c.Limits.RequestTimeout = time.Second
	}, opts: func(o *server.Options) {
		// The faults come first and together: they would open the
		// breaker, which then refuses the healthy calls too — its job,
		// tested in fallback, but not what this test is about.
		o.Stack = func(so *middleware.StackOptions) { so.NoBreaker = true }
	}})
	const faults = 3
	for range faults {
		e.openai.Enqueue(
			llmtest.WireReply{Fault: llmtest.Fault{Status: 500}},
			llmtest.WireReply{Fault: llmtest.Fault{Drop: true, DropAfter: 1}, Response: &llm.Response{
				Content: []llm.Part{llm.Text{Text: "cut short"}}, StopReason: llm.StopEndTurn}},
			llmtest.WireReply{Fault: llmtest.Fault{Latency: 10 * time.Second}}, // stalls past request_timeout
		)
	}
	// The faults are taken by the first requests; the rest echo.
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	ctx := context.Background()
	const n = 60
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	for i := range n {
		wg.Go(func() {
			ok, err := streamChat(ctx, c, e.URL, fmt.Sprintf("req %d", i))
			if err != nil {
				t.Errorf("req %d: %v", i, err)
			}
			if !ok {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed != 3*faults {
		t.Errorf("%d of %d streams failed, want exactly the %d that met a fault", failed, n, 3*faults)
	}
	// The server still answers.
	if ok, err := streamChat(ctx, c, e.URL, "after"); !ok || err != nil {
		t.Errorf("after the faults: ok=%v err=%v", ok, err)
	}
}

func TestGracefulShutdownLetsStreamFinish(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.openai.Enqueue(llmtest.WireReply{
		Fault: llmtest.Fault{Drip: 100 * time.Millisecond},
		Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "one two three four five"}},
			StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 3, OutputTokens: 5}},
	})
	req, _ := http.NewRequest("POST", e.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt","stream":true,"messages":[{"role":"user","content":"count"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	first, err := r.ReadString('\n') // the stream is open and in flight
	if err != nil || !strings.HasPrefix(first, "data: ") {
		t.Fatalf("first line %q, %v", first, err)
	}
	stopped := make(chan struct{})
	go func() { e.stop(); close(stopped) }()
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("stream cut by shutdown: %v", err)
	}
	if !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Errorf("stream did not finish: %q", rest)
	}
	<-stopped
	if _, err := http.Get(e.URL + "/healthz"); err == nil {
		t.Errorf("the server still accepts connections after shutdown")
	}
}

func TestShutdownGraceOverCutsStreams(t *testing.T) {
	// A short grace period: the server must cut the stream, not wait.
	e2 := newEnv(t, envOptions{cfg: func(c *config.Config) { c.Server.ShutdownTimeout = 50 * time.Millisecond }})
	e2.openai.Enqueue(llmtest.WireReply{
		Fault:    llmtest.Fault{Latency: time.Hour},
		Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "never"}}, StopReason: llm.StopEndTurn},
	})
	req, _ := http.NewRequest("POST", e2.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt","stream":true,"messages":[{"role":"user","content":"wait"}]}`))
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	// Wait until the upstream has the request, then stop.
	for i := 0; len(e2.openai.Requests()) == 0 && i < 1000; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	e2.stop()
	<-done // returns (cut or answered with an error) instead of hanging for an hour
}

// TestBodyTimeoutDoesNotCutStreams: the body deadline ends with the body;
// a stream may last far longer.
func TestBodyTimeoutDoesNotCutStreams(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *config.Config) { c.Server.BodyTimeout = 50 * time.Millisecond }})
	e.openai.Enqueue(llmtest.WireReply{
		Fault:    llmtest.Fault{Drip: 60 * time.Millisecond},
		Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "slow"}}, StopReason: llm.StopEndTurn},
	})
	ok, err := streamChat(context.Background(), http.DefaultClient, e.URL, "slow")
	if err != nil || !ok {
		t.Errorf("a stream outliving the body timeout was cut: ok=%v err=%v", ok, err)
	}
}

// TestStalledBodyIsCut: a client that sends part of a body and stalls is
// cut off after the body timeout instead of holding its connection.
func TestStalledBodyIsCut(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *config.Config) {
		c.Server.ReadHeaderTimeout = 50 * time.Millisecond
		c.Server.BodyTimeout = 50 * time.Millisecond
	}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":")
	conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // a failure, not a hang
	if _, err := io.ReadAll(conn); err != nil {
		t.Errorf("the server kept a stalled body's connection open: %v", err)
	}
	if n := len(e.openai.Requests()); n != 0 {
		t.Errorf("a partial body reached the upstream")
	}
}
