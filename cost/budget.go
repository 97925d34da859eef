package cost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
)

// ErrBudgetExceeded is matched (errors.Is) by the *ExceededError a
// budgeted call is refused with.
var ErrBudgetExceeded = errors.New("budget exceeded")

// ExceededError says which budget refused a call and why. Track returns it
// wrapped in an *llm.Error of kind rate_limited that must not be retried.
type ExceededError struct {
	Budget   string
	Limit    USD
	Spent    USD
	Reserved USD // held by calls in flight
	Estimate USD // what the refused call was expected to cost
}

func (e *ExceededError) Error() string {
	return fmt.Sprintf("budget %q exceeded: limit %v, spent %v, in flight %v, this call ~%v",
		e.Budget, e.Limit, e.Spent, e.Reserved, e.Estimate)
}

// Is makes errors.Is(err, ErrBudgetExceeded) true.
func (e *ExceededError) Is(target error) bool { return target == ErrBudgetExceeded }

// BudgetOptions configures a Budget.
type BudgetOptions struct {
	// Daily resets the spending at midnight in Location (UTC when nil).
	Daily    bool
	Location *time.Location
	// Clock tells the day; nil means the real clock.
	Clock clockwork.Clock
}

// Budget is a spending limit. A call reserves its estimated cost before it
// is sent and is refused when the reservation does not fit; when it ends,
// the reservation is replaced by the real cost. Because both steps hold the
// budget's lock, concurrent calls can overspend only by what their real
// costs exceed their estimates. It is safe for concurrent use.
//
// It lives in memory; budgets shared by server replicas need the Redis or
// PostgreSQL implementation of the server.
type Budget struct {
	name  string
	limit USD
	o     BudgetOptions

	mu       sync.Mutex
	spent    USD
	reserved USD
	day      time.Time
}

// NewBudget returns a budget named name (for errors and logs) of limit.
func NewBudget(name string, limit USD, opts BudgetOptions) *Budget {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	b := &Budget{name: name, limit: limit, o: opts}
	b.day = b.today()
	return b
}

func (b *Budget) today() time.Time {
	y, m, d := b.o.Clock.Now().In(b.o.Location).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, b.o.Location)
}

// roll starts a new day's spending. The caller holds b.mu.
func (b *Budget) roll() {
	if !b.o.Daily {
		return
	}
	if d := b.today(); !d.Equal(b.day) {
		b.day, b.spent = d, 0
	}
}

// Name returns the budget's name.
func (b *Budget) Name() string { return b.name }

// Spent returns what was spent in the current period, not counting calls
// in flight.
func (b *Budget) Spent() USD {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll()
	return b.spent
}

// Reserve holds estimate for a call about to be sent, or refuses with an
// *ExceededError when the budget is spent or the estimate does not fit.
func (b *Budget) Reserve(estimate USD) (*Reservation, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll()
	if b.spent+b.reserved >= b.limit || b.spent+b.reserved+estimate > b.limit {
		return nil, &ExceededError{Budget: b.name, Limit: b.limit, Spent: b.spent, Reserved: b.reserved, Estimate: estimate}
	}
	b.reserved += estimate
	return &Reservation{b: b, held: estimate}, nil
}

// Reservation is an admitted call's hold on a budget.
type Reservation struct {
	b    *Budget
	held USD
	once sync.Once
}

// Commit releases the hold and charges the call's real cost (0 for a call
// that failed before using anything). Only the first Commit counts.
func (r *Reservation) Commit(actual USD) {
	if r == nil {
		return
	}
	r.once.Do(func() {
		r.b.mu.Lock()
		defer r.b.mu.Unlock()
		r.b.roll()
		r.b.reserved -= r.held
		r.b.spent += actual
	})
}

// BudgetSource picks the budgets a call is charged to.
type BudgetSource func(ctx context.Context, req *llm.Request) []*Budget

// Always charges every call to the given budgets (a global daily budget,
// for instance).
func Always(budgets ...*Budget) BudgetSource {
	return func(context.Context, *llm.Request) []*Budget { return budgets }
}

type runKey struct{}

// WithBudget returns a context whose calls are charged to b as well: the
// per-run budget of an agent run, an eval or a batch.
func WithBudget(ctx context.Context, b *Budget) context.Context {
	prev, _ := ctx.Value(runKey{}).([]*Budget)
	return context.WithValue(ctx, runKey{}, append(prev[:len(prev):len(prev)], b))
}

// RunBudgets charges calls to the budgets put in their context by
// WithBudget.
func RunBudgets() BudgetSource {
	return func(ctx context.Context, _ *llm.Request) []*Budget {
		bs, _ := ctx.Value(runKey{}).([]*Budget)
		return bs
	}
}

// PerKey charges each call to the budget of its API key (the request's
// "key" tag), created on first use with limit(key); a key for which limit
// reports false has no budget.
func PerKey(limit func(key string) (USD, bool), opts BudgetOptions) BudgetSource {
	var mu sync.Mutex
	byKey := map[string]*Budget{}
	return func(_ context.Context, req *llm.Request) []*Budget {
		key := req.Tags[callinfo.TagKey]
		if key == "" {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		b, ok := byKey[key]
		if !ok {
			l, has := limit(key)
			if !has {
				return nil
			}
			b = NewBudget("key "+key, l, opts)
			byKey[key] = b
		}
		return []*Budget{b}
	}
}
