package cost

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
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
// wrapped in an *llm.Error of kind budget_exceeded, which is not retried.
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
	// Store keeps the accounting; nil means a store in memory of this
	// budget's own. Budgets of several replicas that share a store (the
	// Redis one in store/redis) under one name share one limit.
	Store BudgetStore
	// Lease bounds how long a reservation holds the budget when it is
	// never committed (its replica crashed mid-call): after it, the hold
	// is dropped. 0 means DefaultLease. Make it longer than the longest
	// call, or a slow call's hold lapses early and lets others in.
	Lease time.Duration
}

// DefaultLease is the lease of a reservation when BudgetOptions.Lease is 0.
const DefaultLease = 15 * time.Minute

// Budget is a spending limit. A call reserves its estimated cost before it
// is sent and is refused when the reservation does not fit; when it ends,
// the reservation is replaced by the real cost. Reserving checks and holds
// in one atomic step of the store, so concurrent calls — of one process or
// of replicas sharing a store — can overspend only by what their real
// costs exceed their estimates. It is safe for concurrent use.
type Budget struct {
	name  string
	limit USD
	o     BudgetOptions
}

// NewBudget returns a budget named name (for errors and logs; with a
// shared store, also the name the replicas agree on) of limit.
func NewBudget(name string, limit USD, opts BudgetOptions) *Budget {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Store == nil {
		opts.Store = NewMemoryBudgetStore(opts.Clock)
	}
	return &Budget{name: name, limit: limit, o: opts}
}

// period names the current accounting period and tells when it ends (zero
// for a budget that never resets): the day in the budget's location for a
// daily budget.
func (b *Budget) period() (string, time.Time) {
	if !b.o.Daily {
		return PeriodTotal, time.Time{}
	}
	y, m, d := b.o.Clock.Now().In(b.o.Location).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, b.o.Location).Format(time.DateOnly),
		time.Date(y, m, d+1, 0, 0, 0, 0, b.o.Location)
}

// PeriodTotal is the period of a budget that never resets.
const PeriodTotal = "total"

// Name returns the budget's name.
func (b *Budget) Name() string { return b.name }

// Limit returns the budget's limit.
func (b *Budget) Limit() USD { return b.limit }

// Spent returns what was spent in the current period, not counting calls
// in flight.
func (b *Budget) Spent(ctx context.Context) (USD, error) {
	p, _ := b.period()
	t, err := b.o.Store.Totals(ctx, b.name, p)
	return t.Spent, err
}

// Reserve holds estimate for a call about to be sent, or refuses with an
// *ExceededError when the budget is spent or the estimate does not fit.
// Any other error is the store's (Redis unreachable): the call should not
// be sent, since nothing was held for it.
func (b *Budget) Reserve(ctx context.Context, estimate USD) (*Reservation, error) {
	p, end := b.period()
	// 64 random bits tell apart the reservations in flight (a collision
	// among n of them has odds near n²/2⁶⁵), at a fraction of the cost of
	// crypto/rand.
	id := strconv.FormatUint(rand.Uint64(), 36)
	h := Hold{Budget: b.name, Period: p, ID: id, Amount: estimate, Lease: b.o.Lease, PeriodEnd: end}
	ok, t, err := b.o.Store.Reserve(ctx, h, b.limit)
	if err != nil {
		return nil, fmt.Errorf("budget %q: reserve: %w", b.name, err)
	}
	if !ok {
		return nil, &ExceededError{Budget: b.name, Limit: b.limit, Spent: t.Spent, Reserved: t.Reserved, Estimate: estimate}
	}
	return &Reservation{b: b, h: h}, nil
}

// Reservation is an admitted call's hold on a budget.
type Reservation struct {
	b    *Budget
	h    Hold
	once sync.Once
	err  error
}

// Commit releases the hold and charges the call's real cost (0 for a call
// that failed before using anything) to the period the call was reserved
// in. Only the first Commit counts; later ones return its error. A call
// whose lease lapsed is still charged: the money was spent.
func (r *Reservation) Commit(ctx context.Context, actual USD) error {
	if r == nil {
		return nil
	}
	r.once.Do(func() {
		if err := r.b.o.Store.Commit(ctx, r.h, actual); err != nil {
			r.err = fmt.Errorf("budget %q: commit: %w", r.b.name, err)
		}
	})
	return r.err
}

// Hold is one reservation as a BudgetStore sees it.
type Hold struct {
	Budget string // the budget's name
	Period string // PeriodTotal, or the day ("2026-11-29") of a daily budget
	ID     string // unique to this reservation
	Amount USD    // the estimate held
	// Lease is how long the hold lasts if it is never committed.
	Lease time.Duration
	// PeriodEnd is when the period ends (zero: never); a store may forget
	// the period's accounting some time after it.
	PeriodEnd time.Time
}

// BudgetTotals are a budget period's accounting.
type BudgetTotals struct {
	Spent    USD // charged by committed calls
	Reserved USD // held by calls in flight whose leases have not lapsed
}

// BudgetStore keeps the accounting of budget periods. NewMemoryBudgetStore
// keeps it in one process; store/redis shares it between replicas.
// Implementations are safe for concurrent use, and Reserve is atomic:
// concurrent reservations never see the same room twice.
type BudgetStore interface {
	// Reserve first drops the period's holds whose leases have lapsed,
	// then adds h.Amount to its reserved total and records h, when
	// spent + reserved < limit and spent + reserved + h.Amount <= limit.
	// ok is false, and nothing changed, when it does not fit. The totals
	// are those seen by the check (before h was added).
	Reserve(ctx context.Context, h Hold, limit USD) (ok bool, t BudgetTotals, err error)
	// Commit removes h's hold (if its lease has not lapsed) and adds
	// actual to the period's spending.
	Commit(ctx context.Context, h Hold, actual USD) error
	// Totals returns the period's accounting, lapsed leases excluded.
	Totals(ctx context.Context, budget, period string) (BudgetTotals, error)
}

// MemoryBudgetStore is the BudgetStore of a single process. It forgets a
// period a day after its end. It is safe for concurrent use.
type MemoryBudgetStore struct {
	clock clockwork.Clock

	mu      sync.Mutex
	periods map[periodKey]*memPeriod
	sweepAt int // map size at which ended periods are next dropped
}

type periodKey struct{ budget, period string }

type memPeriod struct {
	spent, reserved USD
	holds           map[string]memHold
	end             time.Time
}

type memHold struct {
	amount  USD
	expires time.Time
}

// NewMemoryBudgetStore returns an empty store whose leases are timed by
// clock (the real clock when nil).
func NewMemoryBudgetStore(clock clockwork.Clock) *MemoryBudgetStore {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &MemoryBudgetStore{clock: clock, periods: map[periodKey]*memPeriod{}, sweepAt: 64}
}

// get returns the period's accounting with lapsed holds dropped, creating
// it when create is true (nil otherwise). The caller holds s.mu.
func (s *MemoryBudgetStore) get(budget, period string, end time.Time, create bool) *memPeriod {
	now := s.clock.Now()
	k := periodKey{budget, period}
	p := s.periods[k]
	if p == nil {
		if !create {
			return nil
		}
		if len(s.periods) >= s.sweepAt {
			for k, p := range s.periods {
				if !p.end.IsZero() && now.After(p.end.Add(24*time.Hour)) {
					delete(s.periods, k)
				}
			}
			s.sweepAt = max(64, 2*len(s.periods))
		}
		p = &memPeriod{holds: map[string]memHold{}, end: end}
		s.periods[k] = p
	}
	for id, h := range p.holds {
		if !now.Before(h.expires) {
			p.reserved -= h.amount
			delete(p.holds, id)
		}
	}
	return p
}

// Reserve implements BudgetStore.
func (s *MemoryBudgetStore) Reserve(_ context.Context, h Hold, limit USD) (bool, BudgetTotals, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.get(h.Budget, h.Period, h.PeriodEnd, true)
	t := BudgetTotals{Spent: p.spent, Reserved: p.reserved}
	if used := p.spent + p.reserved; used >= limit || used+h.Amount > limit {
		return false, t, nil
	}
	p.reserved += h.Amount
	p.holds[h.ID] = memHold{amount: h.Amount, expires: s.clock.Now().Add(h.Lease)}
	return true, t, nil
}

// Commit implements BudgetStore.
func (s *MemoryBudgetStore) Commit(_ context.Context, h Hold, actual USD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.get(h.Budget, h.Period, h.PeriodEnd, true)
	if held, ok := p.holds[h.ID]; ok {
		p.reserved -= held.amount
		delete(p.holds, h.ID)
	}
	p.spent += actual
	return nil
}

// Totals implements BudgetStore.
func (s *MemoryBudgetStore) Totals(_ context.Context, budget, period string) (BudgetTotals, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.get(budget, period, time.Time{}, false)
	if p == nil {
		return BudgetTotals{}, nil
	}
	return BudgetTotals{Spent: p.spent, Reserved: p.reserved}, nil
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
// "key" tag) of limit(key), asked on every call so that a changed limit
// applies at once; a key for which limit reports false has no budget.
// The keys' accounts live in opts.Store (with a Redis store, shared by the
// replicas), or in one memory store of this source when it is nil.
func PerKey(limit func(key string) (USD, bool), opts BudgetOptions) BudgetSource {
	if opts.Store == nil {
		opts.Store = NewMemoryBudgetStore(opts.Clock)
	}
	return func(_ context.Context, req *llm.Request) []*Budget {
		key := req.Tags[callinfo.TagKey]
		if key == "" {
			return nil
		}
		l, has := limit(key)
		if !has {
			return nil
		}
		return []*Budget{NewBudget("key "+key, l, opts)}
	}
}
