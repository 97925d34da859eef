package redis

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
)

// TestTrackAcrossReplicas is DESIGN's budget test end to end: 100
// concurrent calls through cost.Track on two replicas (two Budget values,
// two Redis clients) against a budget with $0.15 left. Each call is
// estimated at $0.02 and really costs $0.04 (gpt-4.1 input at $2/M), so
// at most 7 are admitted and the overspend is at most what they cost
// beyond their estimates.
func TestTrackAcrossReplicas(t *testing.T) {
	ra, rb := replicas(t, nil)
	var calls atomic.Int64
	model := llm.Funcs{
		NameFunc: func() string { return "openai/gpt-4.1" },
		GenerateFunc: func(context.Context, *llm.Request) (*llm.Response, error) {
			calls.Add(1)
			return &llm.Response{Model: "openai/gpt-4.1", Usage: llm.Usage{InputTokens: 20_000}}, nil
		},
	}
	track := func(c *Client) (llm.Model, *cost.Budget) {
		b := cost.NewBudget("key k", cost.Dollar, cost.BudgetOptions{Daily: true, Store: c.BudgetStore()})
		est := func(*llm.Request) (int, int) { return 10_000, 0 }
		return cost.Track(cost.TrackOptions{Budgets: []cost.BudgetSource{cost.Always(b)}, Estimate: est})(model), b
	}
	ma, ba := track(ra)
	mb, bb := track(rb)
	r, err := ba.Reserve(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	r.Commit(t.Context(), cost.Dollars(0.85))

	start := make(chan struct{})
	var refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 100 {
		m := ma
		if i%2 == 1 {
			m = mb
		}
		wg.Go(func() {
			<-start
			_, err := m.Generate(context.Background(), &llm.Request{})
			switch {
			case err == nil:
			case llm.KindOf(err) == llm.KindBudgetExceeded && cost.IsBudgetExceeded(err) && !llm.IsRetryable(err):
				refused.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()

	n := cost.USD(calls.Load())
	if n < 1 || n > 7 || int64(n)+refused.Load() != 100 {
		t.Fatalf("%d calls admitted and %d refused, want 1 to 7 admitted and the rest refused", n, refused.Load())
	}
	spent, err := bb.Spent(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := cost.Dollars(0.85) + n*cost.Dollars(0.04); spent != want {
		t.Errorf("spent %v, want %v", spent, want)
	}
	if over, bound := spent-cost.Dollar, n*cost.Dollars(0.02); over > bound {
		t.Errorf("overspent %v, more than the %v the admitted calls cost beyond their estimates", over, bound)
	}
}
