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
//
// Identical misses that arrive together make one call: the first caller
// calls the model and the others wait for its response, which each gets
// marked as a hit, as if read from the store. If that call fails, each
// waiter makes its own. Coalescing is per process: replicas sharing a store
// (store/redis) each make one call for a burst of the same request.
package respcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"sync"
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

	mu      sync.Mutex
	flights map[string]*flight // by key
	// waiting, when set (by tests), is called as a caller starts waiting
	// for another's call.
	waiting func()

	hits, misses, stores, coalesced atomic.Int64
}

// New returns a Cache over store; use its Middleware.
func New(store Store, opts Options) *Cache {
	if opts.Cacheable == nil {
		opts.Cacheable = DefaultCacheable
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	return &Cache{store: store, o: opts, flights: map[string]*flight{}}
}

// Stats are a Cache's counters since it was made.
type Stats struct {
	Hits, Misses, Stores int64
	// Coalesced counts the misses answered by an identical call already in
	// flight rather than by a call of their own.
	Coalesced int64
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Stores: c.stores.Load(), Coalesced: c.coalesced.Load()}
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
				start := c.o.Clock.Now()
				key, hit := c.lookup(ctx, next.Name(), req, start)
				if hit != nil {
					return hit, nil
				}
				f, lead := c.join(key)
				switch {
				case lead:
					var entry []byte
					// Deferred so that a panicking call lands too, and its
					// waiters make their own calls instead of waiting on.
					defer func() { c.land(key, f, entry) }()
					resp, err := next.Generate(ctx, req)
					if err == nil {
						entry = c.save(ctx, key, resp)
					}
					return resp, err
				case f != nil:
					if resp, err := c.wait(ctx, f, start); resp != nil || err != nil {
						return resp, err
					}
					// The leader had nothing to share: its failure was its
					// own (perhaps its context's), so call as on a plain miss.
				}
				resp, err := next.Generate(ctx, req)
				if err == nil {
					c.save(ctx, key, resp)
				}
				return resp, err
			},
			// Streams coalesce too: a gateway's clients mostly stream, so
			// leaving streams out would leave most stampedes in. A waiter
			// gets the whole response replayed once the leader's stream is
			// done, as a stored hit is, so it sees its first event later
			// than from a call of its own, but costs nothing.
			StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
				if !c.o.Cacheable(req) {
					return next.Stream(ctx, req)
				}
				return func(yield func(llm.Event, error) bool) {
					start := c.o.Clock.Now()
					key, hit := c.lookup(ctx, next.Name(), req, start)
					if hit != nil {
						replay(hit, yield)
						return
					}
					f, lead := c.join(key)
					if f != nil && !lead {
						resp, err := c.wait(ctx, f, start)
						if err != nil {
							yield(llm.Event{}, err)
							return
						}
						if resp != nil {
							replay(resp, yield)
							return
						}
						// As in Generate: the leader's failure was its own.
					}
					if lead {
						// A stream that fails, panics or is abandoned by its
						// consumer lands with nothing to share.
						defer func() {
							if lead {
								c.land(key, f, nil)
							}
						}()
					}
					for ev, err := range next.Stream(ctx, req) {
						if err == nil && ev.Kind == llm.EventDone && ev.Response != nil {
							entry := c.save(ctx, key, ev.Response)
							// Landed before the consumer sees the event, so
							// that waiters are not held by its pace.
							if lead {
								c.land(key, f, entry)
								lead = false
							}
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

func replay(resp *llm.Response, yield func(llm.Event, error) bool) {
	for ev, err := range llm.StreamResponse(resp) {
		if !yield(ev, err) {
			return
		}
	}
}

// lookup returns the request's key ("" when it has none) and, on a hit,
// the cached response marked as one.
func (c *Cache) lookup(ctx context.Context, model string, req *llm.Request, start time.Time) (string, *llm.Response) {
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
	c.markHit(ctx, resp, start)
	return key, resp
}

// markHit marks resp, a fresh copy decoded for this caller, as answered by
// the cache: no usage, since no tokens were consumed for it.
func (c *Cache) markHit(ctx context.Context, resp *llm.Response, start time.Time) {
	resp.Usage = llm.Usage{}
	resp.Latency = c.o.Clock.Since(start)
	callinfo.From(ctx).Update(func(r *callinfo.Record) {
		r.CacheHit = true
		r.Model = resp.Model
	})
}

// save stores resp under key and returns its encoded form, which is nil
// only when resp could not be encoded: a store failure still returns it.
func (c *Cache) save(ctx context.Context, key string, resp *llm.Response) []byte {
	if key == "" {
		return nil
	}
	b, err := encode(resp)
	if err == nil {
		err = c.store.Set(ctx, key, b, c.o.TTL)
	}
	if err != nil {
		c.fail(fmt.Errorf("respcache: set: %w", err))
		return b
	}
	c.stores.Add(1)
	return b
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
	Model       string          `json:"model"`
	System      json.RawMessage `json:"system"`
	Messages    []llm.Message   `json:"messages"`
	Tools       []keyedTool     `json:"tools,omitempty"`
	ToolChoice  llm.ToolChoice  `json:"tool_choice"`
	MaxTokens   int             `json:"max_tokens"`
	Temperature *float64        `json:"temperature"`
	TopP        *float64        `json:"top_p"`
	// TopK and ParallelToolCalls are left out when unset, so that keys
	// made before they existed still find their entries.
	TopK              int                 `json:"top_k,omitempty"`
	ParallelToolCalls *bool               `json:"parallel_tool_calls,omitempty"`
	StopSequences     []string            `json:"stop_sequences,omitempty"`
	Output            *llm.OutputSchema   `json:"output,omitempty"`
	Thinking          *llm.ThinkingConfig `json:"thinking,omitempty"`
	Repeat            string              `json:"repeat,omitempty"`
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
		TopK: req.TopK, ParallelToolCalls: req.ParallelToolCalls,
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
