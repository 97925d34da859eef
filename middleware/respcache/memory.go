package respcache

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// Memory is an in-memory Store: least recently used entries are evicted
// once the stored bytes exceed the bound.
//
// Written here rather than taken from hashicorp/golang-lru, whose caches
// are bounded by entry count: responses range from a word to a long
// document, so only a bound in bytes bounds memory.
type Memory struct {
	max   int
	clock clockwork.Clock

	mu    sync.Mutex
	size  int
	order *list.List // front: most recently used
	items map[string]*list.Element
}

type memEntry struct {
	key     string
	value   []byte
	expires time.Time // zero: never
}

// entryOverhead approximates the bookkeeping bytes of one entry (list
// element, map slot, headers), so that many tiny entries are bounded too.
const entryOverhead = 160

// NewMemory returns a store holding at most maxBytes of keys, values and
// overhead.
func NewMemory(maxBytes int, clock ...clockwork.Clock) *Memory {
	m := &Memory{max: maxBytes, order: list.New(), items: map[string]*list.Element{}, clock: clockwork.NewRealClock()}
	if len(clock) > 0 && clock[0] != nil {
		m.clock = clock[0]
	}
	return m
}

func (e *memEntry) size() int { return len(e.key) + len(e.value) + entryOverhead }

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[key]
	if !ok {
		return nil, false, nil
	}
	e := el.Value.(*memEntry)
	if !e.expires.IsZero() && !m.clock.Now().Before(e.expires) {
		m.remove(el)
		return nil, false, nil
	}
	m.order.MoveToFront(el)
	return e.value, true, nil
}

// Set implements Store. A value larger than the whole bound is not stored.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	e := &memEntry{key: key, value: value}
	if ttl > 0 {
		e.expires = m.clock.Now().Add(ttl)
	}
	if e.size() > m.max {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok {
		m.remove(el)
	}
	m.items[key] = m.order.PushFront(e)
	m.size += e.size()
	for m.size > m.max {
		m.remove(m.order.Back())
	}
	return nil
}

// Len returns the number of entries and the bytes they are counted as.
func (m *Memory) Len() (entries, bytes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len(), m.size
}

func (m *Memory) remove(el *list.Element) {
	e := m.order.Remove(el).(*memEntry)
	delete(m.items, e.key)
	m.size -= e.size()
}
