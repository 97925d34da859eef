// Package redis keeps the state that replicas of `keel serve` must share
// in Redis: per-key request limits (KeyLimiter), budget accounting
// (BudgetStore) and the response cache (Cache). Each is atomic on the
// Redis server — one Lua script per decision — so two replicas never both
// take the last slot of a limit or the last dollar of a budget.
//
//	c, err := redis.Open(ctx, os.Getenv("KEEL_REDIS_URL"))
//	lim := c.KeyLimiter()                  // ratelimit.KeyLimiter
//	store := c.BudgetStore()               // cost.BudgetStore
//	cache := c.Cache(redis.CacheOptions{}) // respcache.Store
//
// Every key starts with the client's prefix ("keel:" by default) and
// every key that belongs to a period of time expires with it.
package redis

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// DefaultPrefix starts every key a Client writes unless told otherwise.
const DefaultPrefix = "keel:"

// Client is a connection pool to one Redis with a key prefix. It is safe
// for concurrent use.
type Client struct {
	rdb    goredis.UniversalClient
	prefix string
	// now, when set, replaces the Redis server's clock in the scripts
	// (tests only: the server's TIME is what lets replicas with skewed
	// clocks agree).
	now func() time.Time
}

// Open connects to the Redis at rawURL (redis://[user:password@]host:port/db,
// rediss:// for TLS, unix://…; the form of KEEL_REDIS_URL) and checks it
// answers. Errors never contain the password.
func Open(ctx context.Context, rawURL string) (*Client, error) {
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		// url.Parse's errors quote the whole URL, password included.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, fmt.Errorf("redis: invalid URL %s: %w", redactURL(rawURL), err)
	}
	rdb := goredis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis: connecting to %s: %w", redactURL(rawURL), err)
	}
	return New(rdb, DefaultPrefix), nil
}

// redactURL returns u without its password, or a placeholder when u does
// not parse.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// New wraps an existing go-redis client; every key is prefixed by prefix.
func New(rdb goredis.UniversalClient, prefix string) *Client {
	return &Client{rdb: rdb, prefix: prefix}
}

// WithPrefix returns a client on the same connections whose keys start
// with prefix instead (one Redis shared by several deployments).
func (c *Client) WithPrefix(prefix string) *Client {
	cc := *c
	cc.prefix = prefix
	return &cc
}

// Prefix returns the prefix of the client's keys.
func (c *Client) Prefix() string { return c.prefix }

// Redis returns the underlying go-redis client.
func (c *Client) Redis() goredis.UniversalClient { return c.rdb }

// Ping checks that Redis answers (for a readiness probe).
func (c *Client) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Close closes the connections.
func (c *Client) Close() error { return c.rdb.Close() }

// nowArg is the time the scripts should use, in microseconds since the
// epoch, or "" for the Redis server's TIME.
func (c *Client) nowArg() string {
	if c.now == nil {
		return ""
	}
	return strconv.FormatInt(c.now().UnixMicro(), 10)
}

// luaNow is the scripts' common prologue: now, in microseconds, from the
// argument at index i when given, else from the server's clock.
func luaNow(i int) string {
	return fmt.Sprintf(`local now
if ARGV[%d] ~= "" then
  now = tonumber(ARGV[%[1]d])
else
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
`, i)
}
