package cost_test

import (
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
