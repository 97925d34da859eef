package redis

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/cost/budgettest"
	"github.com/keelai/keel/internal/testenv"
	"github.com/keelai/keel/middleware/ratelimit"
	"github.com/keelai/keel/middleware/ratelimit/keylimittest"
)

// testClient connects to the test Redis with a prefix unique to the test,
// and deletes the test's keys when it ends.
func testClient(t testing.TB) *Client {
	t.Helper()
	u := testenv.Service(t, testenv.RedisURL)
	c, err := Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "keeltest:" + strings.ReplaceAll(t.Name(), "/", ":") + ":" + rand.Text()[:8] + ":"
	c = c.WithPrefix(prefix)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			c.rdb.Del(ctx, keys...)
		}
		c.Close()
	})
	return c
}

// replicas returns two clients on the test Redis sharing one prefix, as
// two `keel serve` processes would, both timed by clock when it is set.
func replicas(t *testing.T, clock clockwork.Clock) (*Client, *Client) {
	a := testClient(t)
	b, err := Open(t.Context(), testenv.Service(t, testenv.RedisURL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b = b.WithPrefix(a.prefix)
	if clock != nil {
		a.now, b.now = clock.Now, clock.Now
	}
	return a, b
}

func TestKeyLimiterSuite(t *testing.T) {
	keylimittest.Run(t, func(t *testing.T, clock clockwork.Clock) (ratelimit.KeyLimiter, ratelimit.KeyLimiter) {
		a, b := replicas(t, clock)
		return a.KeyLimiter(), b.KeyLimiter()
	})
}

func TestBudgetStoreSuite(t *testing.T) {
	budgettest.Run(t, func(t *testing.T, clock clockwork.Clock) (cost.BudgetStore, cost.BudgetStore) {
		a, b := replicas(t, clock)
		return a.BudgetStore(), b.BudgetStore()
	})
}

// TestKeyLimiterOnServerTime runs the burst on the Redis server's own
// clock, as in production.
func TestKeyLimiterOnServerTime(t *testing.T) {
	a, b := replicas(t, nil)
	admitted := 0
	for i := range 50 {
		lim := a.KeyLimiter()
		if i%2 == 1 {
			lim = b.KeyLimiter()
		}
		ok, retry, err := lim.Allow(t.Context(), "k", 10)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			admitted++
		} else if retry <= 0 || retry > 6*time.Second {
			t.Errorf("retryAfter %v, want in (0, 6s]", retry)
		}
	}
	// 50 calls take far less than the 6 s a new slot takes to open.
	if admitted != 10 {
		t.Errorf("admitted %d, want 10", admitted)
	}
	ttl, err := a.rdb.PTTL(t.Context(), a.prefix+"rl:k").Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Errorf("the key's TTL is %v (err %v), want it to expire within a minute", ttl, err)
	}
}

func TestBudgetKeysExpireWithTheirDay(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Now())
	a, _ := replicas(t, clock)
	b := cost.NewBudget("day", cost.Dollar, cost.BudgetOptions{Daily: true, Clock: clock, Store: a.BudgetStore()})
	r, err := b.Reserve(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(t.Context(), 1000); err != nil {
		t.Fatal(err)
	}
	day := clock.Now().UTC().Format(time.DateOnly)
	for _, k := range a.BudgetStore().keys("day", day)[:1] {
		ttl, err := a.rdb.TTL(t.Context(), k).Result()
		if err != nil || ttl <= 0 || ttl > 48*time.Hour {
			t.Errorf("%s: TTL %v (err %v), want it to expire within two days", k, ttl, err)
		}
	}
}

func TestNegativeAmountsAreRefused(t *testing.T) {
	a := testClient(t)
	s := a.BudgetStore()
	h := cost.Hold{Budget: "neg", Period: cost.PeriodTotal, ID: "x", Amount: -1, Lease: time.Minute}
	if _, _, err := s.Reserve(t.Context(), h, cost.Dollar); err == nil {
		t.Error("a negative reservation was accepted")
	}
	if err := s.Commit(t.Context(), h, -5); err == nil {
		t.Error("a negative charge was accepted")
	}
}

func TestOpenErrorsHideThePassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, u := range []string{
		"redis://user:s3cretpw@127.0.0.1:1/0",     // nothing listens on port 1
		"redis://user:s3cretpw@127.0.0.1:6379/x",  // bad database number
		"redis://user:s3cretpw@127.0.0.1:bad/0",   // bad port
		"redis://user:s3cretpw@[::1/0",            // unparsable
		"redis://user:s3cretpw@127.0.0.1:1/0?x=1", // unknown option
	} {
		_, err := Open(ctx, u)
		if err == nil {
			t.Errorf("%s: Open succeeded", strings.ReplaceAll(u, "s3cretpw", "***"))
			continue
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("error shows the password: %s", strings.ReplaceAll(err.Error(), "s3cretpw", "***"))
		}
	}
}

// TestRetriedScriptsCountOnce: go-redis may run a script twice when its
// reply is lost; a reservation or a commit repeated counts once.
func TestRetriedScriptsCountOnce(t *testing.T) {
	a := testClient(t)
	s := a.BudgetStore()
	h := cost.Hold{Budget: "retry", Period: cost.PeriodTotal, ID: "r1", Amount: 100, Lease: time.Minute}
	for range 2 {
		if ok, _, err := s.Reserve(t.Context(), h, cost.Dollar); !ok || err != nil {
			t.Fatalf("reserve: ok=%v err=%v", ok, err)
		}
	}
	if tot, _ := s.Totals(t.Context(), "retry", cost.PeriodTotal); tot.Reserved != 100 {
		t.Errorf("reserved %v after a repeated reservation, want 100", tot.Reserved)
	}
	for range 2 {
		if err := s.Commit(t.Context(), h, 70); err != nil {
			t.Fatal(err)
		}
	}
	if tot, _ := s.Totals(t.Context(), "retry", cost.PeriodTotal); tot != (cost.BudgetTotals{Spent: 70}) {
		t.Errorf("totals %+v after a repeated commit, want 70 spent, nothing held", tot)
	}
}

func TestKeyLimiterHugeRPM(t *testing.T) {
	lim := testClient(t).KeyLimiter()
	for range 3 {
		if ok, _, err := lim.Allow(t.Context(), "huge", 1<<40); !ok || err != nil {
			t.Fatalf("ok=%v err=%v at an rpm beyond the µs resolution", ok, err)
		}
	}
}
