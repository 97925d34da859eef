package embed

import (
	"container/list"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/keelai/keel/rag"
)

// Key identifies a cached vector: the embedder that made it and the
// SHA-256 of the text.
type Key struct {
	// Model is the embedder's name and vector size, e.g.
	// "openai/text-embedding-3-small@1536"; queries embedded differently
	// from documents get a "#query" suffix.
	Model string
	Hash  [32]byte
}

// Cache stores vectors by Key. Implementations must be safe for
// concurrent use.
type Cache interface {
	// Get returns the vectors of keys, nil where there is none.
	Get(ctx context.Context, keys []Key) ([][]float32, error)
	// Put stores vectors under keys (parallel slices).
	Put(ctx context.Context, keys []Key, vecs [][]float32) error
}

// CachedEmbedder is an Embedder that looks texts up in caches before
// asking the embedder it wraps, and remembers what it had to ask for.
// Duplicate texts in one call are embedded once.
type CachedEmbedder struct {
	next   rag.Embedder
	caches []Cache
	dims   atomic.Int64
}

var (
	_ rag.Embedder      = (*CachedEmbedder)(nil)
	_ rag.QueryEmbedder = (*CachedEmbedder)(nil)
	_ rag.Fingerprinter = (*CachedEmbedder)(nil)
)

// Cached wraps e with caches, consulted in order (put a fast one, such as
// a MemoryCache, before a persistent one). A hit in a later cache is copied
// into the earlier ones.
func Cached(e rag.Embedder, caches ...Cache) *CachedEmbedder {
	return &CachedEmbedder{next: e, caches: caches}
}

// Name returns the wrapped embedder's name.
func (c *CachedEmbedder) Name() string { return c.next.Name() }

// Dimensions returns the wrapped embedder's, or the size of the vectors
// seen when it does not know yet (every text was a cache hit).
func (c *CachedEmbedder) Dimensions() int {
	if d := c.next.Dimensions(); d > 0 {
		return d
	}
	return int(c.dims.Load())
}

// Fingerprint returns the wrapped embedder's, or its name and size.
func (c *CachedEmbedder) Fingerprint() string {
	if f, ok := c.next.(rag.Fingerprinter); ok {
		return f.Fingerprint()
	}
	return fmt.Sprintf("%s@%d", c.Name(), c.Dimensions())
}

// model is the Key.Model of this embedder's vectors. It uses the size the
// wrapped embedder was configured with or knows, so it is the same before
// and after its first call, and in every process.
func (c *CachedEmbedder) model(suffix string) string {
	dims := c.next.Dimensions()
	if cd, ok := c.next.(interface{ configuredDimensions() int }); ok {
		dims = cd.configuredDimensions()
	}
	return fmt.Sprintf("%s@%d%s", c.next.Name(), dims, suffix)
}

// Embed returns one vector per text, from the caches where it can.
func (c *CachedEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return c.embed(ctx, texts, "", c.next.Embed)
}

// EmbedQuery embeds a search query, as a query when the wrapped embedder
// distinguishes queries from documents.
func (c *CachedEmbedder) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	qe, ok := c.next.(rag.QueryEmbedder)
	if !ok {
		v, err := c.Embed(ctx, []string{text})
		if err != nil {
			return nil, err
		}
		return v[0], nil
	}
	v, err := c.embed(ctx, []string{text}, "#query", func(ctx context.Context, texts []string) ([][]float32, error) {
		v, err := qe.EmbedQuery(ctx, texts[0])
		return [][]float32{v}, err
	})
	if err != nil {
		return nil, err
	}
	return v[0], nil
}

func (c *CachedEmbedder) embed(ctx context.Context, texts []string, suffix string, call func(context.Context, []string) ([][]float32, error)) ([][]float32, error) {
	model := c.model(suffix)
	// One key per distinct text.
	index := map[[32]byte]int{}
	var keys []Key
	var uniq []string
	slot := make([]int, len(texts))
	for i, t := range texts {
		h := sha256.Sum256([]byte(t))
		j, ok := index[h]
		if !ok {
			j = len(keys)
			index[h] = j
			keys = append(keys, Key{Model: model, Hash: h})
			uniq = append(uniq, t)
		}
		slot[i] = j
	}
	vecs := make([][]float32, len(keys))
	missing := make([]int, len(keys)) // indexes into keys still without a vector
	for i := range missing {
		missing[i] = i
	}
	for ci, cache := range c.caches {
		if len(missing) == 0 {
			break
		}
		mk := make([]Key, len(missing))
		for i, j := range missing {
			mk[i] = keys[j]
		}
		got, err := cache.Get(ctx, mk)
		if err != nil {
			return nil, fmt.Errorf("embed: cache %d: %w", ci, err)
		}
		var hitKeys []Key
		var hitVecs [][]float32
		still := missing[:0]
		for i, j := range missing {
			if i < len(got) && got[i] != nil && (len(got[i]) == c.next.Dimensions() || c.next.Dimensions() == 0) {
				vecs[j] = got[i]
				hitKeys = append(hitKeys, keys[j])
				hitVecs = append(hitVecs, got[i])
			} else {
				still = append(still, j)
			}
		}
		missing = still
		// Warm the faster caches in front of this one.
		for _, earlier := range c.caches[:ci] {
			if len(hitKeys) > 0 {
				if err := earlier.Put(ctx, hitKeys, hitVecs); err != nil {
					return nil, fmt.Errorf("embed: cache: %w", err)
				}
			}
		}
	}
	if len(missing) > 0 {
		ask := make([]string, len(missing))
		for i, j := range missing {
			ask[i] = uniq[j]
		}
		got, err := call(ctx, ask)
		if err != nil {
			return nil, err
		}
		newKeys := make([]Key, len(missing))
		for i, j := range missing {
			vecs[j] = got[i]
			// Keys made before the call may predate the size the embedder
			// learnt from it; store under the settled name.
			newKeys[i] = Key{Model: c.model(suffix), Hash: keys[j].Hash}
		}
		for ci, cache := range c.caches {
			if err := cache.Put(ctx, newKeys, got); err != nil {
				return nil, fmt.Errorf("embed: cache %d: %w", ci, err)
			}
		}
	}
	out := make([][]float32, len(texts))
	for i, j := range slot {
		out[i] = vecs[j]
	}
	if len(out) > 0 {
		c.dims.CompareAndSwap(0, int64(len(out[0])))
	}
	return out, nil
}

// MemoryCache is a Cache in memory that keeps the most recently used
// entries, up to a bound.
type MemoryCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recently used; values are *memEntry
	items map[Key]*list.Element
}

type memEntry struct {
	key Key
	vec []float32
}

// NewMemoryCache returns a cache that holds at most maxEntries vectors
// (maxEntries <= 0 means 10,000).
func NewMemoryCache(maxEntries int) *MemoryCache {
	if maxEntries <= 0 {
		maxEntries = 10_000
	}
	return &MemoryCache{max: maxEntries, order: list.New(), items: map[Key]*list.Element{}}
}

// Get implements Cache.
func (m *MemoryCache) Get(_ context.Context, keys []Key) ([][]float32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]float32, len(keys))
	for i, k := range keys {
		if el, ok := m.items[k]; ok {
			m.order.MoveToFront(el)
			out[i] = slices.Clone(el.Value.(*memEntry).vec)
		}
	}
	return out, nil
}

// Put implements Cache.
func (m *MemoryCache) Put(_ context.Context, keys []Key, vecs [][]float32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, k := range keys {
		if el, ok := m.items[k]; ok {
			el.Value.(*memEntry).vec = slices.Clone(vecs[i])
			m.order.MoveToFront(el)
			continue
		}
		m.items[k] = m.order.PushFront(&memEntry{key: k, vec: slices.Clone(vecs[i])})
		if m.order.Len() > m.max {
			last := m.order.Back()
			m.order.Remove(last)
			delete(m.items, last.Value.(*memEntry).key)
		}
	}
	return nil
}

// Len returns the number of entries.
func (m *MemoryCache) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}
