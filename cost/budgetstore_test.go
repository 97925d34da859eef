package cost_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/cost/budgettest"
)

func TestMemoryBudgetStore(t *testing.T) {
	budgettest.Run(t, func(t *testing.T, clock clockwork.Clock) (cost.BudgetStore, cost.BudgetStore) {
		s := cost.NewMemoryBudgetStore(clock)
		return s, s
	})
}

// Two budgets of one name on one store share one account, as replicas
// sharing the Redis store do.
func ExampleBudgetStore() {
	ctx := context.Background()
	store := cost.NewMemoryBudgetStore(nil)
	replicaA := cost.NewBudget("team", cost.Dollars(1), cost.BudgetOptions{Store: store})
	replicaB := cost.NewBudget("team", cost.Dollars(1), cost.BudgetOptions{Store: store})

	r, _ := replicaA.Reserve(ctx, cost.Dollars(0.6))
	_, err := replicaB.Reserve(ctx, cost.Dollars(0.6))
	fmt.Println(err)

	r.Commit(ctx, cost.Dollars(0.5))
	spent, _ := replicaB.Spent(ctx)
	fmt.Println("spent", spent)
	// Output:
	// budget "team" exceeded: limit $1.00, spent $0.00, in flight $0.60, this call ~$0.60
	// spent $0.50
}

func BenchmarkMemoryBudgetReserveCommit(b *testing.B) {
	bud := cost.NewBudget("bench", 1<<60, cost.BudgetOptions{Daily: true})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := bud.Reserve(ctx, 1000)
		if err != nil {
			b.Fatal(err)
		}
		r.Commit(ctx, 900)
	}
}
