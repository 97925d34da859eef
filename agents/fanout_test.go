package agents_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/agents"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

// barrierModel wraps a fake so that every Generate waits until n calls
// have arrived: run one at a time, the first call would wait forever.
func barrierModel(next llm.Model, wg *sync.WaitGroup) llm.Model {
	return llm.Funcs{
		Next: next,
		GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
			wg.Done()
			wg.Wait()
			return next.Generate(ctx, req)
		},
	}
}

func TestAllRunsBranchesConcurrently(t *testing.T) {
	var barrier sync.WaitGroup
	barrier.Add(3)
	var tasks []agents.Task[string]
	for _, name := range []string{"a", "b", "c"} {
		a := &agents.Agent{Name: name, Model: barrierModel(llmtest.NewModel("", llmtest.Text("from "+name)), &barrier)}
		tasks = append(tasks, func(ctx context.Context) (string, error) { return a.Ask(ctx, "go") })
	}
	got, err := agents.All(t.Context(), agents.FanOut{}, tasks...)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"from a", "from b", "from c"}, got); diff != "" {
		t.Errorf("results not in input order (-want +got):\n%s", diff)
	}
}

func TestFanOutLimit(t *testing.T) {
	const limit, n = 2, 5
	for _, mode := range []string{"all", "settle"} {
		// synctest.Wait returns once every goroutine of the bubble is
		// blocked: the fan-out has then started all the branches it ever
		// will until one finishes, with no sleeping or timing.
		t.Run(mode, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var inFlight atomic.Int32
				release := make(chan struct{})
				tasks := make([]agents.Task[int], n)
				for i := range tasks {
					tasks[i] = func(ctx context.Context) (int, error) {
						inFlight.Add(1)
						<-release
						inFlight.Add(-1)
						return i * i, nil
					}
				}
				done := make(chan []int)
				go func() {
					f := agents.FanOut{Limit: limit}
					if mode == "all" {
						v, err := agents.All(t.Context(), f, tasks...)
						if err != nil {
							t.Error(err)
						}
						done <- v
						return
					}
					var v []int
					for _, b := range agents.Settle(t.Context(), f, tasks...) {
						v = append(v, b.Value)
					}
					done <- v
				}()
				for left := n; left > 0; left-- {
					synctest.Wait()
					if got, want := int(inFlight.Load()), min(limit, left); got != want {
						t.Errorf("%d branches running with %d left, want %d", got, left, want)
					}
					release <- struct{}{}
				}
				got := <-done
				if diff := cmp.Diff([]int{0, 1, 4, 9, 16}, got); diff != "" {
					t.Errorf("results (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestAllFailFastCancelsSiblings(t *testing.T) {
	// In a synctest bubble a sibling left waiting would be reported as a
	// deadlock instead of hanging the test.
	synctest.Test(t, func(t *testing.T) {
		started := make(chan struct{})
		var sawCancel atomic.Bool
		boom := errors.New("boom")
		tasks := []agents.Task[string]{
			func(ctx context.Context) (string, error) {
				close(started)
				<-ctx.Done() // only the sibling's failure can end this branch
				sawCancel.Store(true)
				return "", ctx.Err()
			},
			func(ctx context.Context) (string, error) {
				<-started
				return "", boom
			},
			func(ctx context.Context) (string, error) {
				<-ctx.Done()
				return "", ctx.Err()
			},
		}
		got, err := agents.All(t.Context(), agents.FanOut{}, tasks...)
		if got != nil {
			t.Errorf("values = %v, want nil on failure", got)
		}
		be, ok := errors.AsType[*agents.BranchError](err)
		if !ok || be.Index != 1 || !errors.Is(err, boom) {
			t.Fatalf("err = %v, want *BranchError for branch 1 wrapping boom", err)
		}
		// All returned, so every branch has returned: the sibling saw the
		// cancellation rather than being abandoned.
		if !sawCancel.Load() {
			t.Error("sibling was not cancelled before All returned")
		}
	})
}

func TestAllFailFastStartsNoMoreBranches(t *testing.T) {
	var ran atomic.Int32
	tasks := []agents.Task[int]{
		func(ctx context.Context) (int, error) { ran.Add(1); return 0, errors.New("first fails") },
	}
	for range 5 {
		tasks = append(tasks, func(ctx context.Context) (int, error) { ran.Add(1); return 1, nil })
	}
	// With a limit of 1 the branches run in order; after the first fails,
	// none of the others may start.
	_, err := agents.All(t.Context(), agents.FanOut{Limit: 1}, tasks...)
	if err == nil {
		t.Fatal("no error")
	}
	if n := ran.Load(); n != 1 {
		t.Errorf("%d branches ran, want 1", n)
	}
}

func TestSettleKeepsPerBranchErrors(t *testing.T) {
	mk := func(name string, reply llmtest.Reply) *agents.Agent {
		return &agents.Agent{Name: name, Model: llmtest.NewModel("", reply)}
	}
	as := []*agents.Agent{
		mk("ok1", llmtest.Text("one")),
		mk("limited", llmtest.Fail(llm.KindRateLimited)),
		mk("ok2", llmtest.Text("two")),
	}
	var tasks []agents.Task[string]
	for _, a := range as {
		tasks = append(tasks, func(ctx context.Context) (string, error) { return a.Ask(ctx, "go") })
	}
	got := agents.Settle(t.Context(), agents.FanOut{Limit: 2}, tasks...)
	if len(got) != 3 {
		t.Fatalf("%d branches, want 3", len(got))
	}
	type row struct {
		Value string
		Kind  llm.ErrorKind
		Agent string
	}
	var rows []row
	for i, b := range got {
		r := row{Value: b.Value, Kind: llm.KindOf(b.Err)}
		if ae, ok := errors.AsType[*agents.Error](b.Err); ok {
			r.Agent = ae.Agent
		}
		if be, ok := errors.AsType[*agents.BranchError](b.Err); b.Err != nil && (!ok || be.Index != i) {
			t.Errorf("branch %d: err %v is not a *BranchError with its index", i, b.Err)
		}
		rows = append(rows, r)
	}
	want := []row{{Value: "one"}, {Kind: llm.KindRateLimited, Agent: "limited"}, {Value: "two"}}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("branches (-want +got):\n%s", diff)
	}
}

func TestAllCallerCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := agents.All(ctx, agents.FanOut{}, func(ctx context.Context) (int, error) { return 1, nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
