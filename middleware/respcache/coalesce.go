package respcache

import (
	"context"
	"fmt"
	"time"

	"github.com/keelai/keel/llm"
)

// flight is the one call in progress for a key, which identical misses
// wait for instead of calling the model themselves.
//
// Written here rather than taken from golang.org/x/sync/singleflight,
// which cannot both keep the call on the leader's goroutine and let the
// others stop waiting when their context ends: Do runs it there but its
// waiters cannot leave, and DoChan lets them leave but runs the call on a
// goroutine of its own, where a panic (from a provider or a middleware)
// is re-raised unrecoverably and ends the process, instead of failing one
// request as the server's recovery does today. A stream, too, runs in its
// consumer's loop, which a call on another goroutine could only feed
// through a channel. And singleflight hands the leader's error to every
// waiter, which must instead make its own call when the leader's fails.
type flight struct {
	done chan struct{}
	// entry is the encoded response, set before done is closed; nil when
	// the call failed, was abandoned or could not be encoded.
	entry []byte
}

// join returns the flight for key and whether the caller leads it, in which
// case it makes the call and must land the flight. An empty key (a request
// that could not be keyed) has no flight.
func (c *Cache) join(key string) (f *flight, lead bool) {
	if key == "" {
		return nil, false
	}
	c.mu.Lock()
	f, ok := c.flights[key]
	if !ok {
		f = &flight{done: make(chan struct{})}
		c.flights[key] = f
	}
	c.mu.Unlock()
	if ok && c.waiting != nil {
		c.waiting()
	}
	return f, !ok
}

// land ends the leader's flight, sharing entry (nil: nothing to share).
// Callers that miss afterwards find the entry in the store, or make a new
// flight if it could not be stored.
func (c *Cache) land(key string, f *flight, entry []byte) {
	c.mu.Lock()
	delete(c.flights, key)
	c.mu.Unlock()
	f.entry = entry
	close(f.done)
}

// wait waits for f to land and returns the leader's response, decoded
// afresh for this caller (so nothing is shared) and marked as a hit; nil
// when there is nothing to share. It returns an error only when ctx ends
// first.
func (c *Cache) wait(ctx context.Context, f *flight, start time.Time) (*llm.Response, error) {
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, &llm.Error{Kind: llm.KindOf(ctx.Err()), Message: "waiting for an identical call in flight", Err: ctx.Err()}
	}
	if f.entry == nil {
		return nil, nil
	}
	resp, err := decode(f.entry)
	if err != nil {
		c.fail(fmt.Errorf("respcache: shared entry: %w", err))
		return nil, nil
	}
	c.coalesced.Add(1)
	c.markHit(ctx, resp, start)
	return resp, nil
}
