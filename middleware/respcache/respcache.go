// Package respcache answers a model call from a cache of earlier responses
// to the exact same request: same model, system prompt, messages, tools and
// parameters, compared through a canonical hash.
//
//	m = respcache.New(respcache.NewMemory(64<<20), respcache.Options{TTL: time.Hour})(m)
//
// By default only requests with temperature 0 are cached, since sampling at
// a higher temperature asks for variety; the request tag "cache" set to
// "on" or "off" overrides that. A hit is marked in callinfo (CacheHit) and
// carries zero usage, since it consumed no tokens; streams replay a hit as
// events. Stores: NewMemory (an LRU bounded in bytes) and OpenSQLite
// (persistent).
package respcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
)

// Store keeps encoded responses by key. Implementations are safe for
// concurrent use.
type Store interface {
	// Get returns the value stored under key, and false when there is none
	// or it has expired.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores value under key until ttl has passed (0: no expiry).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// Options configures New.
type Options struct {
	// TTL is how long a response stays fresh; 0 means no expiry.
	TTL time.Duration
	// Cacheable decides whether a request may be answered from and stored
	// in the cache; nil means DefaultCacheable.
	Cacheable func(*llm.Request) bool
	// Clock measures the hit latency; nil means the real clock.
	Clock clockwork.Clock
	// OnError, when set, is told about store failures, which otherwise
	// turn a lookup into a miss and a store into a no-op: a broken cache
	// must not break calls.
	OnError func(error)
}

// DefaultCacheable caches requests whose temperature is 0, and any request
// whose "cache" tag is "on"; "off" never caches.
func DefaultCacheable(req *llm.Request) bool {
	switch req.Tags[callinfo.TagCache] {
	case "on":
		return true
	case "off":
		return false
	}
	return req.Temperature != nil && *req.Temperature == 0
}

// Cache is the response-cache middleware and its counters.
type Cache struct {
	store Store
	o     Options

	hits, misses, stores atomic.Int64
}

// New returns a Cache over store; use its Middleware.
func New(store Store, opts Options) *Cache {
	if opts.Cacheable == nil {
		opts.Cacheable = DefaultCacheable
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	return &Cache{store: store, o: opts}
}

// Stats are a Cache's counters since it was made.
type Stats struct {
	Hits, Misses, Stores int64
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Stores: c.stores.Load()}
}

// Middleware returns the caching middleware.
func (c *Cache) Middleware() llm.Middleware {
	return func(next llm.Model) llm.Model {
		return llm.Funcs{
			Next: next,
			GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
				if !c.o.Cacheable(req) {
					return next.Generate(ctx, req)
				}
				key, hit := c.lookup(ctx, next.Name(), req)
				if hit != nil {
					return hit, nil
				}
				resp, err := next.Generate(ctx, req)
				if err == nil {
					c.save(ctx, key, resp)
				}
				return resp, err
			},
			StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
				if !c.o.Cacheable(req) {
					return next.Stream(ctx, req)
				}
				return func(yield func(llm.Event, error) bool) {
					key, hit := c.lookup(ctx, next.Name(), req)
					if hit != nil {
						for ev, err := range llm.StreamResponse(hit) {
							if !yield(ev, err) {
								return
							}
						}
						return
					}
					for ev, err := range next.Stream(ctx, req) {
						if err == nil && ev.Kind == llm.EventDone && ev.Response != nil {
							c.save(ctx, key, ev.Response)
						}
						if !yield(ev, err) || err != nil {
							return
						}
					}
				}
			},
		}
	}
}

// lookup returns the request's key and, on a hit, the cached response
// marked as one.
func (c *Cache) lookup(ctx context.Context, model string, req *llm.Request) (string, *llm.Response) {
	start := c.o.Clock.Now()
	key, err := Key(model, req)
	if err != nil {
		c.fail(err)
		return "", nil
	}
	b, ok, err := c.store.Get(ctx, key)
	if err != nil {
		c.fail(fmt.Errorf("respcache: get: %w", err))
	}
	if !ok {
		c.misses.Add(1)
		return key, nil
	}
	resp, err := decode(b)
	if err != nil {
		c.fail(fmt.Errorf("respcache: entry %s: %w", key[:12], err))
		c.misses.Add(1)
		return key, nil
	}
	c.hits.Add(1)
	resp.Usage = llm.Usage{}
	resp.Latency = c.o.Clock.Since(start)
	callinfo.From(ctx).Update(func(r *callinfo.Record) {
		r.CacheHit = true
		r.Model = resp.Model
	})
	return key, resp
}

func (c *Cache) save(ctx context.Context, key string, resp *llm.Response) {
	if key == "" {
		return
	}
	b, err := encode(resp)
	if err == nil {
		err = c.store.Set(ctx, key, b, c.o.TTL)
	}
	if err != nil {
		c.fail(fmt.Errorf("respcache: set: %w", err))
		return
	}
	c.stores.Add(1)
}

func (c *Cache) fail(err error) {
	if c.o.OnError != nil {
		c.o.OnError(err)
	}
}

// keyed is the canonical form of a request that Key hashes: everything that
// changes the answer, nothing that does not (tags other than the repeat
// index are metadata).
type keyed struct {
	Model         string              `json:"model"`
	System        json.RawMessage     `json:"system"`
	Messages      []llm.Message       `json:"messages"`
	Tools         []keyedTool         `json:"tools,omitempty"`
	ToolChoice    llm.ToolChoice      `json:"tool_choice"`
	MaxTokens     int                 `json:"max_tokens"`
	Temperature   *float64            `json:"temperature"`
	TopP          *float64            `json:"top_p"`
	StopSequences []string            `json:"stop_sequences,omitempty"`
	Output        *llm.OutputSchema   `json:"output,omitempty"`
	Thinking      *llm.ThinkingConfig `json:"thinking,omitempty"`
	Repeat        string              `json:"repeat,omitempty"`
}

type keyedTool struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	InputSchema json.RawMessage   `json:"input_schema"`
	Cache       *llm.CacheControl `json:"cache,omitempty"`
}

// Key returns the cache key of req sent to model: the hex SHA-256 of its
// canonical JSON form. JSON object keys are sorted and JSON values
// (schemas, tool inputs) compacted, so formatting does not split entries.
func Key(model string, req *llm.Request) (string, error) {
	system := make([]llm.Part, len(req.System))
	for i, s := range req.System {
		system[i] = s
	}
	sys, err := llm.MarshalParts(system)
	if err != nil {
		return "", err
	}
	k := keyed{
		Model: model, System: sys, Messages: req.Messages, ToolChoice: req.ToolChoice,
		MaxTokens: req.MaxTokens, Temperature: req.Temperature, TopP: req.TopP,
		StopSequences: req.StopSequences, Output: req.Output, Thinking: req.Thinking,
		Repeat: req.Tags[callinfo.TagRepeat],
	}
	for _, t := range req.Tools {
		k.Tools = append(k.Tools, keyedTool{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema, Cache: t.Cache})
	}
	b, err := json.Marshal(k)
	if err != nil {
		return "", fmt.Errorf("respcache: key: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// entry is the stored form of a response.
type entry struct {
	ID           string          `json:"id,omitempty"`
	Model        string          `json:"model"`
	Content      json.RawMessage `json:"content"`
	StopReason   llm.StopReason  `json:"stop_reason"`
	StopSequence string          `json:"stop_sequence,omitempty"`
	Usage        llm.Usage       `json:"usage"`
}

func encode(resp *llm.Response) ([]byte, error) {
	content, err := llm.MarshalParts(resp.Content)
	if err != nil {
		return nil, err
	}
	return json.Marshal(entry{
		ID: resp.ID, Model: resp.Model, Content: content,
		StopReason: resp.StopReason, StopSequence: resp.StopSequence, Usage: resp.Usage,
	})
}

func decode(b []byte) (*llm.Response, error) {
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	parts, err := llm.UnmarshalParts(e.Content)
	if err != nil {
		return nil, fmt.Errorf("content: %w", err)
	}
	return &llm.Response{
		ID: e.ID, Model: e.Model, Content: parts,
		StopReason: e.StopReason, StopSequence: e.StopSequence, Usage: e.Usage,
	}, nil
}
