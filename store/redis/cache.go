package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keelai/keel/middleware/respcache"
)

// CacheOptions configures a Cache.
type CacheOptions struct {
	// MaxValue is the largest value stored, in bytes; larger ones are
	// skipped. 0 means DefaultMaxCacheValue.
	MaxValue int
	// MaxTTL caps every entry's lifetime, and applies to entries stored
	// with no TTL, so that a shared cache cannot grow without end. 0 means
	// no cap (rely on Redis's maxmemory policy).
	MaxTTL time.Duration
}

// DefaultMaxCacheValue bounds a cached response when CacheOptions.MaxValue
// is 0.
const DefaultMaxCacheValue = 4 << 20

// Cache is a respcache.Store in Redis, shared by every replica: a response
// cached by one is a hit on the others. Entries are <prefix>cache:<key>
// and expire through Redis's own TTLs.
type Cache struct {
	c *Client
	o CacheOptions
}

var _ respcache.Store = (*Cache)(nil)

// Cache returns a response-cache store on the client.
func (c *Client) Cache(opts CacheOptions) *Cache {
	if opts.MaxValue <= 0 {
		opts.MaxValue = DefaultMaxCacheValue
	}
	return &Cache{c: c, o: opts}
}

// Get implements respcache.Store.
func (s *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := s.c.rdb.Get(ctx, s.c.prefix+"cache:"+key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis: cache get: %w", err)
	}
	return v, true, nil
}

// Set implements respcache.Store. A value larger than MaxValue is not
// stored (and is not an error: the call simply stays uncached).
func (s *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if len(value) > s.o.MaxValue {
		return nil
	}
	if s.o.MaxTTL > 0 && (ttl <= 0 || ttl > s.o.MaxTTL) {
		ttl = s.o.MaxTTL
	}
	if ttl < 0 {
		ttl = 0
	}
	// go-redis sends PX for sub-second TTLs and EX otherwise; 0 is no
	// expiry.
	if err := s.c.rdb.Set(ctx, s.c.prefix+"cache:"+key, value, ttl).Err(); err != nil {
		return fmt.Errorf("redis: cache set: %w", err)
	}
	return nil
}
