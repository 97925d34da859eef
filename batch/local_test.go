package batch_test

import (
	"context"
	"errors"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelai/keel/batch"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
)

// gated is a model whose calls each announce themselves and then wait to
// be released, so a test can see how many run at once.
type gated struct {
	inflight, peak atomic.Int32
	started        chan string
	release        chan struct{}
}

func (g *gated) Name() string { return "gemini/gemini-2.5-flash" }

func (g *gated) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	n := g.inflight.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	defer g.inflight.Add(-1)
	g.started <- req.Messages[0].Text()
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &llm.Response{Content: []llm.Part{llm.Text{Text: "ok"}}, Usage: llm.Usage{InputTokens: 10, OutputTokens: 5}}, nil
}

func (g *gated) Stream(context.Context, *llm.Request) iter.Seq2[llm.Event, error] {
	panic("not used")
}

// TestLocalConcurrencyBound: with Concurrency 2, six items run two at a
// time, and never three.
func TestLocalConcurrencyBound(t *testing.T) {
	g := &gated{started: make(chan string), release: make(chan struct{})}
	l := &batch.Local{Open: func(string) (llm.Model, error) { return g, nil }, Model: g.Name(), Concurrency: 2}
	done := make(chan error, 1)
	var got map[string]batch.Result
	go func() {
		var err error
		got, err = l.Run(context.Background(), items("", "a", "b", "c", "d", "e", "f"))
		done <- err
	}()
	for round := 0; round < 3; round++ {
		<-g.started
		<-g.started
		if n := g.inflight.Load(); n != 2 {
			t.Fatalf("round %d: %d calls in flight, want 2", round, n)
		}
		g.release <- struct{}{}
		g.release <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p := g.peak.Load(); p != 2 {
		t.Fatalf("peak concurrency %d, want 2", p)
	}
	if len(got) != 6 || got["f"].Outcome != batch.Succeeded || !got["f"].Priced || got["f"].Cost == 0 {
		t.Fatalf("results = %+v", got)
	}
	// List price, not batch price: the local runner gets no discount.
	want, _ := cost.DefaultTable().Cost(g.Name(), llm.Usage{InputTokens: 10, OutputTokens: 5}, false)
	if got["a"].Cost != want {
		t.Fatalf("cost = %v, want %v", got["a"].Cost, want)
	}
}

// flaky answers every request, except those whose prompt is in fail.
type flaky struct {
	mu    sync.Mutex
	calls map[string]int
	fail  map[string]bool
}

func (f *flaky) Name() string { return "gemini/gemini-2.5-flash" }

func (f *flaky) Generate(_ context.Context, req *llm.Request) (*llm.Response, error) {
	p := req.Messages[0].Text()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[p]++
	if f.fail[p] {
		return nil, &llm.Error{Kind: llm.KindOverloaded, Provider: "gemini", Message: "busy"}
	}
	return &llm.Response{Content: []llm.Part{llm.Text{Text: "re: " + p}}, StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 3, OutputTokens: 2}}, nil
}

func (f *flaky) Stream(context.Context, *llm.Request) iter.Seq2[llm.Event, error] { panic("not used") }

// TestLocalResume: a second run over the same output file runs only what
// did not succeed, drops a torn last line, and leaves every item's latest
// outcome in the file.
func TestLocalResume(t *testing.T) {
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "out.jsonl")
	f := &flaky{calls: map[string]int{}, fail: map[string]bool{"question b": true}}
	l := &batch.Local{Open: func(string) (llm.Model, error) { return f, nil }, Model: f.Name(), Concurrency: 3}
	in := items("", "a", "b", "c")
	rs, err := l.RunFile(ctx, in, out)
	if err != nil {
		t.Fatal(err)
	}
	got := byID(rs)
	if got["a"].Outcome != batch.Succeeded || got["b"].Outcome != batch.Errored || got["b"].Err.Kind != llm.KindOverloaded {
		t.Fatalf("first run = %+v", got)
	}
	// A crash mid-write leaves half a line.
	fh, _ := os.OpenFile(out, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString(`{"custom_id":"c","status":"succ`)
	fh.Close()

	f.fail = map[string]bool{}
	rs, err = l.RunFile(ctx, in, out)
	if err != nil {
		t.Fatal(err)
	}
	got = byID(rs)
	for _, id := range []string{"a", "b", "c"} {
		if r := got[id]; r.Outcome != batch.Succeeded || r.Response.Text() != "re: question "+id {
			t.Fatalf("%s after resume = %+v", id, r)
		}
	}
	if f.calls["question a"] != 1 || f.calls["question c"] != 1 || f.calls["question b"] != 2 {
		t.Fatalf("calls = %v: succeeded items must not run again", f.calls)
	}
	data, _ := os.ReadFile(out)
	if strings.Contains(string(data), `"succ{`) || !strings.HasSuffix(string(data), "\n") {
		t.Fatalf("torn line kept:\n%s", data)
	}
	if n := strings.Count(string(data), "\n"); n != 4 {
		t.Fatalf("%d lines, want 4 (a, b errored, c, b succeeded):\n%s", n, data)
	}
}

// TestLocalCanceled: items cut by the context are not recorded, so that a
// resume runs them.
func TestLocalCanceled(t *testing.T) {
	g := &gated{started: make(chan string), release: make(chan struct{})}
	l := &batch.Local{Open: func(string) (llm.Model, error) { return g, nil }, Model: g.Name(), Concurrency: 1}
	ctx, cancel := context.WithCancel(context.Background())
	out := filepath.Join(t.TempDir(), "out.jsonl")
	done := make(chan error, 1)
	go func() {
		_, err := l.RunFile(ctx, items("", "a", "b"), out)
		done <- err
	}()
	<-g.started
	g.release <- struct{}{} // a succeeds
	<-g.started             // b is in flight
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	data, _ := os.ReadFile(out)
	if !strings.Contains(string(data), `"custom_id":"a"`) || strings.Contains(string(data), `"custom_id":"b"`) {
		t.Fatalf("output:\n%s", data)
	}
}

// TestLocalJobStatus: a local job's record and output file answer status
// and results through the Manager, as provider jobs do.
func TestLocalJobStatus(t *testing.T) {
	ctx := context.Background()
	store := batch.NewStore(t.TempDir())
	f := &flaky{calls: map[string]int{}, fail: map[string]bool{}}
	in := items("", "a", "b")
	job, resumed, err := batch.LocalJob(store, in, f.Name(), strings.Repeat("ab", 32), time.Now())
	if err != nil || resumed {
		t.Fatalf("LocalJob = %v, %v", resumed, err)
	}
	m, err := batch.New(batch.Options{Open: func(string) (llm.Model, error) { return f, nil }, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	st, err := m.Status(ctx, job.ID)
	if err != nil || st.State != batch.InProgress || st.Counts.Processing != 2 {
		t.Fatalf("status before running = %+v, %v", st, err)
	}
	if _, err := m.Results(ctx, job.ID); !errors.Is(err, batch.ErrNotEnded) {
		t.Fatalf("results before running: %v", err)
	}
	l := &batch.Local{Open: func(string) (llm.Model, error) { return f, nil }, Model: f.Name()}
	if _, err := l.RunFile(ctx, in, job.Output); err != nil {
		t.Fatal(err)
	}
	st, err = m.Status(ctx, job.ID)
	if err != nil || st.State != batch.Ended || st.Counts.Succeeded != 2 {
		t.Fatalf("status after running = %+v, %v", st, err)
	}
	rs, err := m.Results(ctx, job.ID)
	if err != nil || rs[1].Response.Text() != "re: question b" || rs[1].Cost == 0 {
		t.Fatalf("results = %+v, %v", rs, err)
	}
	if again, resumed, err := batch.LocalJob(store, in, f.Name(), strings.Repeat("ab", 32), time.Now()); err != nil || !resumed || again.ID != job.ID {
		t.Fatalf("second LocalJob = %+v, %v, %v", again, resumed, err)
	}
}
