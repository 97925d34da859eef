// Package budgettest is the behavioural test suite every cost.BudgetStore
// must pass, so that a budget means the same in memory and in Redis.
package budgettest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/cost"
)

// Factory returns two handles on one store's state (two replicas on one
// Redis; the same value twice for a memory store) whose leases are timed
// by clock. Budget names used by one call of the suite's tests are unique
// to it.
type Factory func(t *testing.T, clock clockwork.Clock) (a, b cost.BudgetStore)

// Run runs the suite against the stores newStore makes.
func Run(t *testing.T, newStore Factory) {
	setup := func(t *testing.T, at time.Time) (*clockwork.FakeClock, cost.BudgetStore, cost.BudgetStore) {
		clock := clockwork.NewFakeClockAt(at)
		a, b := newStore(t, clock)
		return clock, a, b
	}
	noon := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

	t.Run("ConcurrentReservationsOverspendOnlyByAdmitted", func(t *testing.T) {
		// 100 callers on two replicas, $0.15 left, $0.02 estimated each:
		// exactly 7 fit. Each then costs $0.04, twice its estimate, so the
		// overspend is at most 7 × $0.02.
		clock, sa, sb := setup(t, noon)
		opts := func(s cost.BudgetStore) cost.BudgetOptions { return cost.BudgetOptions{Clock: clock, Store: s} }
		a := cost.NewBudget("shared", cost.Dollar, opts(sa))
		b := cost.NewBudget("shared", cost.Dollar, opts(sb))
		r, err := a.Reserve(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Commit(t.Context(), cost.Dollars(0.85)); err != nil {
			t.Fatal(err)
		}
		const est, actual = 20_000_000, 40_000_000 // $0.02, $0.04
		start := make(chan struct{})
		var admitted atomic.Int64
		var wg sync.WaitGroup
		for i := range 100 {
			bud := a
			if i%2 == 1 {
				bud = b
			}
			wg.Go(func() {
				<-start
				r, err := bud.Reserve(context.Background(), est)
				if err != nil {
					if !cost.IsBudgetExceeded(err) {
						t.Error(err)
					}
					return
				}
				admitted.Add(1)
				if err := r.Commit(context.Background(), actual); err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		n := cost.USD(admitted.Load())
		if n == 0 || n > 7 {
			t.Errorf("admitted %d reservations of $0.02 with $0.15 left, want 1 to 7", n)
		}
		spent, err := b.Spent(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if want := cost.Dollars(0.85) + n*actual; spent != want {
			t.Errorf("spent %v, want %v", spent, want)
		}
		if over, bound := spent-cost.Dollar, n*(actual-est); over > bound {
			t.Errorf("overspent %v, more than the %v the admitted calls cost beyond their estimates", over, bound)
		}
	})

	t.Run("ExactlyTheReservationsThatFit", func(t *testing.T) {
		// With real costs unknown until commit, all 100 reserve first:
		// exactly 7 holds of $0.02 fit in $0.15.
		_, sa, sb := setup(t, noon)
		stores := []cost.BudgetStore{sa, sb}
		var admitted atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 100 {
			wg.Go(func() {
				<-start
				h := cost.Hold{Budget: "fit", Period: cost.PeriodTotal, ID: fmt.Sprint("hold-", i),
					Amount: 20_000_000, Lease: time.Minute}
				ok, _, err := stores[i%2].Reserve(context.Background(), h, cost.Dollars(0.15))
				if err != nil {
					t.Error(err)
				}
				if ok {
					admitted.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := admitted.Load(); n != 7 {
			t.Errorf("admitted %d holds, want exactly 7", n)
		}
		tot, err := sa.Totals(t.Context(), "fit", cost.PeriodTotal)
		if err != nil {
			t.Fatal(err)
		}
		if tot.Reserved != 7*20_000_000 || tot.Spent != 0 {
			t.Errorf("totals %+v, want $0.14 reserved, nothing spent", tot)
		}
	})

	t.Run("RefusalChangesNothing", func(t *testing.T) {
		_, sa, _ := setup(t, noon)
		h := cost.Hold{Budget: "refuse", Period: cost.PeriodTotal, ID: "big", Amount: 2 * cost.Dollar, Lease: time.Minute}
		ok, tot, err := sa.Reserve(t.Context(), h, cost.Dollar)
		if err != nil || ok {
			t.Fatalf("ok=%v err=%v, want refused", ok, err)
		}
		if tot != (cost.BudgetTotals{}) {
			t.Errorf("refusal saw %+v, want empty totals", tot)
		}
		if tot, _ := sa.Totals(t.Context(), "refuse", cost.PeriodTotal); tot != (cost.BudgetTotals{}) {
			t.Errorf("after a refusal totals are %+v, want empty", tot)
		}
	})

	t.Run("SpentBudgetRefusesEvenFreeCalls", func(t *testing.T) {
		clock, sa, _ := setup(t, noon)
		b := cost.NewBudget("spent", cost.Dollar, cost.BudgetOptions{Clock: clock, Store: sa})
		r, _ := b.Reserve(t.Context(), 0)
		r.Commit(t.Context(), cost.Dollar)
		_, err := b.Reserve(t.Context(), 0)
		ex, ok := err.(*cost.ExceededError)
		if !ok {
			t.Fatalf("err = %v, want *cost.ExceededError", err)
		}
		if ex.Spent != cost.Dollar || ex.Limit != cost.Dollar {
			t.Errorf("refusal %+v, want spent and limit $1", ex)
		}
	})

	t.Run("LapsedLeaseReleasesHold", func(t *testing.T) {
		// A replica reserved and crashed: its hold lapses with its lease.
		clock, sa, sb := setup(t, noon)
		crashed := cost.NewBudget("lease", cost.Dollar, cost.BudgetOptions{Clock: clock, Store: sa, Lease: 30 * time.Second})
		live := cost.NewBudget("lease", cost.Dollar, cost.BudgetOptions{Clock: clock, Store: sb, Lease: 30 * time.Second})
		r, err := crashed.Reserve(t.Context(), cost.Dollars(0.9))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := live.Reserve(t.Context(), cost.Dollars(0.5)); !cost.IsBudgetExceeded(err) {
			t.Fatalf("err = %v while the hold is live, want exceeded", err)
		}
		clock.Advance(30 * time.Second)
		r2, err := live.Reserve(t.Context(), cost.Dollars(0.5))
		if err != nil {
			t.Fatalf("after the lease lapsed: %v", err)
		}
		// The crashed call comes back after all: its cost is still
		// charged, and the lapsed hold is not released a second time.
		if err := r.Commit(t.Context(), cost.Dollars(0.1)); err != nil {
			t.Fatal(err)
		}
		tot, err := sb.Totals(t.Context(), "lease", cost.PeriodTotal)
		if err != nil {
			t.Fatal(err)
		}
		if want := (cost.BudgetTotals{Spent: cost.Dollars(0.1), Reserved: cost.Dollars(0.5)}); tot != want {
			t.Errorf("totals %+v, want %+v", tot, want)
		}
		r2.Commit(t.Context(), cost.Dollars(0.5))
		if tot, _ := sa.Totals(t.Context(), "lease", cost.PeriodTotal); tot.Reserved != 0 || tot.Spent != cost.Dollars(0.6) {
			t.Errorf("totals %+v, want $0.60 spent and nothing held", tot)
		}
	})

	t.Run("DailyPeriodsFollowTheBudgetsLocation", func(t *testing.T) {
		ny, err := time.LoadLocation("America/New_York")
		if err != nil {
			t.Skip("no time zone database:", err)
		}
		// 23:00 UTC is 18:00 in New York: UTC's midnight is not the reset.
		clock, sa, sb := setup(t, time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC))
		opts := cost.BudgetOptions{Daily: true, Location: ny, Clock: clock, Store: sa}
		a := cost.NewBudget("daily", cost.Dollar, opts)
		opts.Store = sb
		b := cost.NewBudget("daily", cost.Dollar, opts)
		r, _ := a.Reserve(t.Context(), 0)
		r.Commit(t.Context(), cost.Dollar)
		clock.Advance(2 * time.Hour) // 01:00 UTC, 20:00 in New York
		if _, err := b.Reserve(t.Context(), 1); !cost.IsBudgetExceeded(err) {
			t.Fatalf("err = %v before New York's midnight, want exceeded", err)
		}
		clock.Advance(4 * time.Hour) // 00:00 in New York
		if _, err := b.Reserve(t.Context(), 1); err != nil {
			t.Fatalf("after New York's midnight: %v", err)
		}
		if s, _ := a.Spent(t.Context()); s != 0 {
			t.Errorf("spent %v on the new day, want 0", s)
		}
		if tot, _ := sa.Totals(t.Context(), "daily", "2026-03-01"); tot.Spent != cost.Dollar {
			t.Errorf("the previous day's totals %+v, want $1 spent", tot)
		}
	})

	t.Run("CommitIsOnce", func(t *testing.T) {
		clock, sa, _ := setup(t, noon)
		b := cost.NewBudget("once", cost.Dollar, cost.BudgetOptions{Clock: clock, Store: sa})
		r, _ := b.Reserve(t.Context(), cost.Dollars(0.1))
		r.Commit(t.Context(), cost.Dollars(0.1))
		r.Commit(t.Context(), cost.Dollars(0.1))
		if s, _ := b.Spent(t.Context()); s != cost.Dollars(0.1) {
			t.Errorf("spent %v after two commits of one reservation, want $0.10", s)
		}
	})
}
