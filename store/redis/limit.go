package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keelai/keel/middleware/ratelimit"
)

// KeyLimiter is the ratelimit.KeyLimiter shared by every replica on one
// Redis. It follows the same GCRA rule as ratelimit.MemoryKeyLimiter, in
// one Lua script timed by the Redis server's clock, so replicas whose
// clocks disagree still agree on every key. A key's state is one integer
// (its theoretical arrival time, in microseconds) that expires when the
// key has been idle long enough to burst again.
type KeyLimiter struct{ c *Client }

var _ ratelimit.KeyLimiter = (*KeyLimiter)(nil)

// KeyLimiter returns the client's limiter. Its keys are
// <prefix>rl:<key>; pass key ids, not secrets, since anyone who can read
// the Redis sees them.
func (c *Client) KeyLimiter() *KeyLimiter { return &KeyLimiter{c: c} }

// gcraScript: KEYS[1] the key's TAT; ARGV interval and window in µs, now.
// Returns {1, 0} when admitted, {0, µs to wait} when not. Numbers are
// formatted with %.0f since Lua 5.1 prints large numbers in %.14g.
var gcraScript = goredis.NewScript(luaNow(3) + `
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call("GET", KEYS[1]) or "0")
if tat < now then tat = now end
local nxt = tat + interval
local allow_at = nxt - window
if allow_at > now then
  return {0, string.format("%.0f", allow_at - now)}
end
redis.call("SET", KEYS[1], string.format("%.0f", nxt), "PX", string.format("%.0f", math.ceil((nxt - now) / 1000)))
return {1, "0"}
`)

// Allow implements ratelimit.KeyLimiter.
func (l *KeyLimiter) Allow(ctx context.Context, key string, rpm int) (bool, time.Duration, error) {
	if rpm <= 0 {
		return true, 0, nil
	}
	// At least 1 µs, so that a huge rpm still moves the key's state.
	interval := max(ratelimit.Window.Microseconds()/int64(rpm), 1)
	res, err := gcraScript.Run(ctx, l.c.rdb, []string{l.c.prefix + "rl:" + key},
		interval, ratelimit.Window.Microseconds(), l.c.nowArg()).Slice()
	if err != nil {
		return false, 0, fmt.Errorf("redis: rate limit: %w", err)
	}
	ok, wait, err := twoInts(res)
	if err != nil {
		return false, 0, fmt.Errorf("redis: rate limit: %w", err)
	}
	return ok == 1, time.Duration(wait) * time.Microsecond, nil
}
