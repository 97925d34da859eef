package redis

import (
	"context"
	"fmt"
	"testing"

	"github.com/keelai/keel/cost"
)

// The benchmarks measure one round trip to the test Redis per operation
// (two for a reservation and its commit), on loopback.

func BenchmarkKeyLimiterAllow(b *testing.B) {
	lim := testClient(b).KeyLimiter()
	ctx := context.Background()
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprint("key-", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, err := lim.Allow(ctx, keys[i%len(keys)], 1_000_000); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkBudgetReserveCommit(b *testing.B) {
	store := testClient(b).BudgetStore()
	bud := cost.NewBudget("bench", 1<<60, cost.BudgetOptions{Daily: true, Store: store})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := bud.Reserve(ctx, 1000)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Commit(ctx, 900); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBudgetReserveCommitParallel(b *testing.B) {
	store := testClient(b).BudgetStore()
	bud := cost.NewBudget("bench", 1<<60, cost.BudgetOptions{Daily: true, Store: store})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			r, err := bud.Reserve(ctx, 1000)
			if err != nil {
				b.Fatal(err)
			}
			if err := r.Commit(ctx, 900); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPing is the baseline: one bare round trip.
func BenchmarkPing(b *testing.B) {
	c := testClient(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
