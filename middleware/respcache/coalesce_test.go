package respcache_test

import (
	"context"
	"errors"
	"iter"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/middleware/callinfo"
	"github.com/keelai/keel/middleware/respcache"
)

// gated wraps a model so that each call announces itself on entered, then
// waits until release is closed or its context ends.
type gated struct {
	entered chan struct{}
	release chan struct{}
}

func newGated() *gated {
	return &gated{entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (g *gated) pass(ctx context.Context) error {
	g.entered <- struct{}{}
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gated) wrap(m llm.Model) llm.Model {
	return llm.Funcs{
		Next: m,
		GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
			if err := g.pass(ctx); err != nil {
				return nil, err
			}
			return m.Generate(ctx, req)
		},
		StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
			return func(yield func(llm.Event, error) bool) {
				if err := g.pass(ctx); err != nil {
					yield(llm.Event{}, err)
					return
				}
				for ev, err := range m.Stream(ctx, req) {
					if !yield(ev, err) {
						return
					}
				}
			}
		},
	}
}

// stampede is a cache over a gated fake, with waits receiving a value each
// time a caller starts waiting for another's call.
type stampede struct {
	fake  *llmtest.Model
	gate  *gated
	cache *respcache.Cache
	m     llm.Model
	waits chan struct{}
}

func newStampede(fake *llmtest.Model) *stampede {
	s := &stampede{fake: fake, gate: newGated(), waits: make(chan struct{}, 100)}
	s.cache = respcache.New(respcache.NewMemory(1<<20), respcache.Options{})
	respcache.OnWait(s.cache, func() { s.waits <- struct{}{} })
	s.m = s.cache.Middleware()(s.gate.wrap(fake))
	return s
}

// await blocks until the model has been entered enter times and callers
// have started waiting waits times, and fails the test at once if either
// happens once too often: a caller that should have waited called the
// model, or one that should have called it waited.
func (s *stampede) await(t *testing.T, enter, waits int) {
	t.Helper()
	for enter > 0 || waits > 0 {
		select {
		case <-s.gate.entered:
			if enter--; enter < 0 {
				t.Fatal("the model was called by a caller that should have waited")
			}
		case <-s.waits:
			if waits--; waits < 0 {
				t.Fatal("a caller waited that should have called the model")
			}
		}
	}
}

type outcome struct {
	resp *llm.Response
	err  error
	hit  bool
}

// caller is how a test calls the cached model: Generate, or Stream
// collected into its final response.
type caller struct {
	name string
	call func(ctx context.Context, m llm.Model, r *llm.Request) (*llm.Response, error)
}

var callers = []caller{
	{"generate", func(ctx context.Context, m llm.Model, r *llm.Request) (*llm.Response, error) {
		return m.Generate(ctx, r)
	}},
	{"stream", func(ctx context.Context, m llm.Model, r *llm.Request) (*llm.Response, error) {
		return llm.Collect(m.Stream(ctx, r))
	}},
}

// run calls m in a goroutine with a fresh call record and sends the outcome.
func (cl caller) run(ctx context.Context, m llm.Model, r *llm.Request, out chan<- outcome) {
	go func() {
		ctx, info := callinfo.Ensure(ctx)
		resp, err := cl.call(ctx, m, r)
		out <- outcome{resp, err, info.Record().CacheHit}
	}()
}

func TestConcurrentMissesMakeOneCall(t *testing.T) {
	const n = 8
	for _, cl := range callers {
		t.Run(cl.name, func(t *testing.T) {
			s := newStampede(llmtest.NewModel("fake/m", llmtest.Text("forty two")))
			out := make(chan outcome, n)
			for range n {
				cl.run(t.Context(), s.m, req("q"), out)
			}
			s.await(t, 1, n-1)
			close(s.gate.release)

			var hits int
			seen := map[*llm.Response]bool{}
			for range n {
				o := <-out
				if o.err != nil {
					t.Fatal(o.err)
				}
				if o.resp.Text() != "forty two" || o.resp.Model != "fake/m" {
					t.Errorf("got %+v, want the model's answer", o.resp)
				}
				if seen[o.resp] {
					t.Error("two callers got the same *Response: a response may be shared, so each needs its own")
				}
				seen[o.resp] = true
				if o.hit {
					hits++
					if o.resp.Usage != (llm.Usage{}) {
						t.Errorf("coalesced usage = %+v, want zero: the call is charged to its leader", o.resp.Usage)
					}
				} else if o.resp.Usage.InputTokens == 0 {
					t.Errorf("leader usage = %+v, want the model's", o.resp.Usage)
				}
			}
			if hits != n-1 {
				t.Errorf("%d callers marked as hits, want %d", hits, n-1)
			}
			if got := len(s.fake.Requests()); got != 1 {
				t.Errorf("model called %d times, want 1", got)
			}
			if got, want := s.cache.Stats(), (respcache.Stats{Misses: n, Stores: 1, Coalesced: n - 1}); got != want {
				t.Errorf("stats = %+v, want %+v", got, want)
			}
			// Once landed, the answer comes from the store.
			if resp, err := s.m.Generate(t.Context(), req("q")); err != nil || resp.Text() != "forty two" || s.cache.Stats().Hits != 1 {
				t.Errorf("after the stampede: %v, %v, stats %+v", resp, err, s.cache.Stats())
			}
		})
	}
}

func TestLeaderFailureIsNotShared(t *testing.T) {
	const n = 4
	for _, cl := range callers {
		for _, tt := range []struct {
			name string
			// lead makes the leader's call fail once it is in the model.
			lead    func(cancel context.CancelFunc)
			replies []llmtest.Reply
			// calls is how many requests reach the fake.
			calls int
		}{
			{"model error", func(context.CancelFunc) {}, []llmtest.Reply{llmtest.Fail(llm.KindServer)}, n},
			{"leader cancelled", func(cancel context.CancelFunc) { cancel() }, nil, n - 1},
		} {
			t.Run(cl.name+"/"+tt.name, func(t *testing.T) {
				fake := llmtest.NewEcho("fake/m")
				fake.Enqueue(tt.replies...)
				s := newStampede(fake)
				leaderCtx, cancel := context.WithCancel(t.Context())
				defer cancel()
				leader := make(chan outcome, 1)
				cl.run(leaderCtx, s.m, req("q"), leader)
				s.await(t, 1, 0)
				out := make(chan outcome, n-1)
				for range n - 1 {
					cl.run(t.Context(), s.m, req("q"), out)
				}
				s.await(t, 0, n-1)
				tt.lead(cancel)
				close(s.gate.release)

				if o := <-leader; o.err == nil {
					t.Fatalf("leader got %v, want its failure", o.resp)
				}
				for range n - 1 {
					o := <-out
					if o.err != nil {
						t.Fatalf("a waiter failed with the leader: %v", o.err)
					}
					if o.resp.Text() != "q" || o.hit {
						t.Errorf("waiter got %q, hit=%v; want its own call's answer", o.resp.Text(), o.hit)
					}
				}
				if got := len(s.fake.Requests()); got != tt.calls {
					t.Errorf("model called %d times, want %d", got, tt.calls)
				}
				if got := s.cache.Stats().Coalesced; got != 0 {
					t.Errorf("coalesced = %d, want 0", got)
				}
			})
		}
	}
}

func TestLeaderAbandoningItsStreamIsNotShared(t *testing.T) {
	s := newStampede(llmtest.NewModel("fake/m", llmtest.Text("a b c"), llmtest.Text("again")))
	started, stop := make(chan struct{}), make(chan struct{})
	leaderDone := make(chan struct{})
	go func() {
		defer close(leaderDone)
		for range s.m.Stream(t.Context(), req("q")) {
			close(started)
			<-stop
			break
		}
	}()
	s.await(t, 1, 0)
	waiter := make(chan outcome, 1)
	callers[1].run(t.Context(), s.m, req("q"), waiter)
	s.await(t, 0, 1)
	close(s.gate.release)
	<-started
	close(stop)
	<-leaderDone
	o := <-waiter
	if o.err != nil || o.resp.Text() != "again" || o.hit {
		t.Errorf("waiter got %v, %v, hit=%v; want its own call's answer", o.resp, o.err, o.hit)
	}
	if got := len(s.fake.Requests()); got != 2 {
		t.Errorf("model called %d times, want 2", got)
	}
}

func TestWaiterCancelledLeavesAtOnce(t *testing.T) {
	for _, cl := range callers {
		t.Run(cl.name, func(t *testing.T) {
			s := newStampede(llmtest.NewModel("fake/m", llmtest.Text("forty two")))
			leader := make(chan outcome, 1)
			cl.run(t.Context(), s.m, req("q"), leader)
			s.await(t, 1, 0)
			waiterCtx, cancel := context.WithCancel(t.Context())
			waiter := make(chan outcome, 1)
			cl.run(waiterCtx, s.m, req("q"), waiter)
			s.await(t, 0, 1)
			cancel()
			// The leader is still held in the model: only leaving on its own
			// context lets the waiter answer.
			o := <-waiter
			if !errors.Is(o.err, context.Canceled) || llm.KindOf(o.err) != llm.KindCanceled {
				t.Errorf("waiter got %v, %v; want its context's error", o.resp, o.err)
			}
			close(s.gate.release)
			if o := <-leader; o.err != nil || o.resp.Text() != "forty two" {
				t.Errorf("leader got %v, %v; want the answer", o.resp, o.err)
			}
			if got := len(s.fake.Requests()); got != 1 {
				t.Errorf("model called %d times, want 1", got)
			}
		})
	}
}

func TestDifferentRequestsAreNotCoalesced(t *testing.T) {
	s := newStampede(llmtest.NewEcho("fake/m"))
	out := make(chan outcome, 3)
	callers[0].run(t.Context(), s.m, req("a"), out)
	callers[1].run(t.Context(), s.m, req("b"), out)
	other := req("a")
	other.MaxTokens = 10
	callers[0].run(t.Context(), s.m, other, out)
	s.await(t, 3, 0)
	close(s.gate.release)
	got := map[string]int{}
	for range 3 {
		o := <-out
		if o.err != nil || o.hit {
			t.Fatalf("%v, %v, hit=%v", o.resp, o.err, o.hit)
		}
		got[o.resp.Text()]++
	}
	if got["a"] != 2 || got["b"] != 1 {
		t.Errorf("answers = %v, want each request's own", got)
	}
}
