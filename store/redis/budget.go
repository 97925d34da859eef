package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keelai/keel/cost"
)

// BudgetStore is the cost.BudgetStore shared by every replica on one
// Redis. Each budget period has three keys, sharing a hash tag so that
// they live on one node of a cluster:
//
//	<prefix>budget:{<name>|<period>}:totals  hash: spent, reserved (nano-USD)
//	<prefix>budget:{<name>|<period>}:holds   hash: reservation id → amount held
//	<prefix>budget:{<name>|<period>}:leases  sorted set: reservation id by lease end (µs)
//
// Reserve and Commit are each one Lua script, so the check and the hold
// (or the release and the charge) are atomic across replicas, and each is
// idempotent for one reservation id, since go-redis retries a command
// whose reply was lost. Both first
// drop the holds whose leases have lapsed — those of a replica that
// crashed mid-call — timed by the Redis server's clock. A daily period's
// keys expire a day after the period ends; a budget that never resets
// keeps its keys.
//
// Amounts are compared as Lua numbers (doubles): exact up to 2^53
// nano-USD, about nine million dollars per period.
type BudgetStore struct{ c *Client }

var _ cost.BudgetStore = (*BudgetStore)(nil)

// BudgetStore returns the client's budget store.
func (c *Client) BudgetStore() *BudgetStore { return &BudgetStore{c: c} }

// commitMarker is how long a committed reservation's id is remembered,
// longer than go-redis's retries of one command take.
const commitMarker = 30 * time.Second

// periodGrace is how long a period's keys outlive its end, so that the
// previous day's totals can still be read.
const periodGrace = 24 * time.Hour

func (s *BudgetStore) keys(budget, period string) []string {
	base := s.c.prefix + "budget:{" + budget + "|" + period + "}:"
	return []string{base + "totals", base + "holds", base + "leases"}
}

// expireAt is when a period's keys expire, in µs since the epoch, "0" for
// never. The script turns it into a TTL from its own now, so that the
// keys expire by the same clock that times the leases.
func expireAt(h cost.Hold) string {
	if h.PeriodEnd.IsZero() {
		return "0"
	}
	return strconv.FormatInt(h.PeriodEnd.Add(periodGrace).UnixMicro(), 10)
}

// luaDropLapsed releases the holds whose lease ended at or before now.
// Amounts stay strings on their way to HINCRBY: a Lua number would be
// printed in %.14g and lose digits.
const luaDropLapsed = `
local function release(amount)
  -- HINCRBY refuses "-0".
  if amount ~= "0" then redis.call("HINCRBY", KEYS[1], "reserved", "-" .. amount) end
end
local lapsed = redis.call("ZRANGEBYSCORE", KEYS[3], "-inf", string.format("%.0f", now))
for _, id in ipairs(lapsed) do
  local amount = redis.call("HGET", KEYS[2], id)
  if amount and amount ~= "c" then release(amount) end
  redis.call("HDEL", KEYS[2], id)
  redis.call("ZREM", KEYS[3], id)
end
`

const luaExpire = `
if ARGV[%d] ~= "0" then
  local ttl = math.max(1, math.ceil((tonumber(ARGV[%[1]d]) - now) / 1000000))
  for i = 1, 3 do redis.call("EXPIRE", KEYS[i], string.format("%%.0f", ttl)) end
end
`

// reserveScript: ARGV limit, amount, id, lease µs, expireat, now.
// Returns {ok, spent, reserved} with the totals seen by the check.
var reserveScript = goredis.NewScript(luaNow(6) + luaDropLapsed + `
local t = redis.call("HMGET", KEYS[1], "spent", "reserved")
local spent, reserved = t[1] or "0", t[2] or "0"
if redis.call("HEXISTS", KEYS[2], ARGV[3]) == 1 then
  -- A retry of a reservation that was made (its reply lost).
  return {1, spent, reserved}
end
local used = tonumber(spent) + tonumber(reserved)
local limit, amount = tonumber(ARGV[1]), tonumber(ARGV[2])
if used >= limit or used + amount > limit then
  return {0, spent, reserved}
end
redis.call("HINCRBY", KEYS[1], "reserved", ARGV[2])
redis.call("HSET", KEYS[2], ARGV[3], ARGV[2])
redis.call("ZADD", KEYS[3], string.format("%.0f", now + tonumber(ARGV[4])), ARGV[3])
` + fmt.Sprintf(luaExpire, 5) + `
return {1, spent, reserved}
`)

// commitScript: ARGV id, actual, expireat, now, marker µs.
//
// go-redis retries a command whose reply was lost, so a script may run
// twice. A committed hold therefore stays behind as the marker "c" for
// commitMarker, during which a second commit of it charges nothing.
var commitScript = goredis.NewScript(luaNow(4) + luaDropLapsed + `
local amount = redis.call("HGET", KEYS[2], ARGV[1])
if amount == "c" then return 0 end
if amount then release(amount) end
redis.call("HSET", KEYS[2], ARGV[1], "c")
redis.call("ZADD", KEYS[3], string.format("%.0f", now + tonumber(ARGV[5])), ARGV[1])
redis.call("HINCRBY", KEYS[1], "spent", ARGV[2])
` + fmt.Sprintf(luaExpire, 3) + `
return 1
`)

// totalsScript: ARGV now. Returns {spent, reserved}.
var totalsScript = goredis.NewScript(luaNow(1) + luaDropLapsed + `
local t = redis.call("HMGET", KEYS[1], "spent", "reserved")
return {t[1] or "0", t[2] or "0"}
`)

var errNegative = errors.New("negative amount")

// Reserve implements cost.BudgetStore.
func (s *BudgetStore) Reserve(ctx context.Context, h cost.Hold, limit cost.USD) (bool, cost.BudgetTotals, error) {
	if h.Amount < 0 {
		return false, cost.BudgetTotals{}, fmt.Errorf("redis: budget %q: reserve %v: %w", h.Budget, h.Amount, errNegative)
	}
	res, err := reserveScript.Run(ctx, s.c.rdb, s.keys(h.Budget, h.Period),
		int64(limit), int64(h.Amount), h.ID, h.Lease.Microseconds(), expireAt(h), s.c.nowArg()).Slice()
	if err != nil {
		return false, cost.BudgetTotals{}, fmt.Errorf("redis: budget %q: reserve: %w", h.Budget, err)
	}
	if len(res) != 3 {
		return false, cost.BudgetTotals{}, fmt.Errorf("redis: budget %q: reserve: unexpected reply %v", h.Budget, res)
	}
	ok, err1 := toInt(res[0])
	spent, err2 := toInt(res[1])
	reserved, err3 := toInt(res[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return false, cost.BudgetTotals{}, fmt.Errorf("redis: budget %q: reserve: %w", h.Budget, err)
	}
	return ok == 1, cost.BudgetTotals{Spent: cost.USD(spent), Reserved: cost.USD(reserved)}, nil
}

// Commit implements cost.BudgetStore.
func (s *BudgetStore) Commit(ctx context.Context, h cost.Hold, actual cost.USD) error {
	if actual < 0 {
		return fmt.Errorf("redis: budget %q: commit %v: %w", h.Budget, actual, errNegative)
	}
	err := commitScript.Run(ctx, s.c.rdb, s.keys(h.Budget, h.Period),
		h.ID, int64(actual), expireAt(h), s.c.nowArg(), commitMarker.Microseconds()).Err()
	if err != nil {
		return fmt.Errorf("redis: budget %q: commit: %w", h.Budget, err)
	}
	return nil
}

// Totals implements cost.BudgetStore.
func (s *BudgetStore) Totals(ctx context.Context, budget, period string) (cost.BudgetTotals, error) {
	res, err := totalsScript.Run(ctx, s.c.rdb, s.keys(budget, period), s.c.nowArg()).Slice()
	if err != nil {
		return cost.BudgetTotals{}, fmt.Errorf("redis: budget %q: totals: %w", budget, err)
	}
	spent, reserved, err := twoInts(res)
	if err != nil {
		return cost.BudgetTotals{}, fmt.Errorf("redis: budget %q: totals: %w", budget, err)
	}
	return cost.BudgetTotals{Spent: cost.USD(spent), Reserved: cost.USD(reserved)}, nil
}

// toInt reads a script's reply element: an integer, or a decimal string.
func toInt(v any) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case string:
		return strconv.ParseInt(v, 10, 64)
	}
	return 0, fmt.Errorf("unexpected reply element %T", v)
}

func twoInts(res []any) (int64, int64, error) {
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("unexpected reply %v", res)
	}
	a, err1 := toInt(res[0])
	b, err2 := toInt(res[1])
	return a, b, errors.Join(err1, err2)
}
