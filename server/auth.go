package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/ratelimit"
	"github.com/keelai/keel/server/backend"
	"github.com/keelai/keel/store/state"
)

// maxCachedKeys bounds the key cache: a flood of made-up keys must not
// grow it without end. Past it the cache starts over.
const maxCachedKeys = 10_000

// hasKeysRecheck is how often, while no key exists, the server asks the
// store again (a key created by `keel keys create` in another process
// ends the local-owner mode within it, or within the key cache's TTL
// when shorter).
const hasKeysRecheck = time.Second

// authenticator turns a request's key into a Caller and admits it under
// the key's rate limit and concurrency bound.
type authenticator struct {
	st      state.Store
	limiter ratelimit.KeyLimiter
	maxConc int
	ttl     time.Duration
	clock   clockwork.Clock
	log     *slog.Logger

	mu      sync.Mutex
	keys    map[string]cachedKey // by hash
	anyKey  bool                 // once true, stays: keys are revoked, never deleted
	checked time.Time
	budgets map[string]cost.USD // key id → daily budget, for cost.PerKey
	active  map[string]int      // key id → requests in flight
}

type cachedKey struct {
	key     state.Key
	found   bool
	fetched time.Time
}

func newAuthenticator(st state.Store, l ratelimit.KeyLimiter, maxConc int, ttl time.Duration, clock clockwork.Clock, log *slog.Logger) *authenticator {
	return &authenticator{st: st, limiter: l, maxConc: maxConc, ttl: ttl, clock: clock, log: log,
		keys: map[string]cachedKey{}, budgets: map[string]cost.USD{}, active: map[string]int{}}
}

// authError is a refusal: 401 with the route format's body.
func authError(msg string) *llm.Error {
	return &llm.Error{Kind: llm.KindAuth, Status: http.StatusUnauthorized, Message: msg}
}

// secretFrom returns the key a request carries: Authorization: Bearer K
// (OpenAI's way) or x-api-key: K (Anthropic's).
func secretFrom(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, v, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(v)
		}
	}
	return strings.TrimSpace(r.Header.Get("x-api-key"))
}

// hasKeys reports whether any key exists (revoked ones count: revoking
// every key must not reopen the server to anyone).
func (a *authenticator) hasKeys(ctx context.Context) (bool, error) {
	a.mu.Lock()
	if a.anyKey || (!a.checked.IsZero() && a.clock.Since(a.checked) < min(hasKeysRecheck, a.ttl)) {
		defer a.mu.Unlock()
		return a.anyKey, nil
	}
	a.mu.Unlock()
	keys, err := a.st.Keys(ctx)
	if err != nil {
		return false, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.anyKey = a.anyKey || len(keys) > 0
	a.checked = a.clock.Now()
	return a.anyKey, nil
}

// lookup finds the key whose secret hashes to hash, through the cache.
func (a *authenticator) lookup(ctx context.Context, hash string) (state.Key, bool, error) {
	now := a.clock.Now()
	if a.ttl > 0 {
		a.mu.Lock()
		c, ok := a.keys[hash]
		a.mu.Unlock()
		if ok && now.Sub(c.fetched) < a.ttl {
			return c.key, c.found, nil
		}
	}
	k, err := a.st.KeyByHash(ctx, hash)
	found := err == nil
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return state.Key{}, false, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if found {
		a.anyKey = true
		if k.Budget > 0 {
			a.budgets[k.ID] = k.Budget
		} else {
			delete(a.budgets, k.ID)
		}
	}
	if a.ttl > 0 {
		if len(a.keys) >= maxCachedKeys {
			clear(a.keys)
		}
		a.keys[hash] = cachedKey{key: k, found: found, fetched: now}
	}
	return k, found, nil
}

// budgetOf is cost.PerKey's limit: the daily budget of the key with this
// id, as last read from the store.
func (a *authenticator) budgetOf(keyID string) (cost.USD, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, ok := a.budgets[keyID]
	return b, ok
}

// authenticate returns who r is. With no key in the store, requests that
// reach a loopback listener from loopback are the local owner, whatever
// key they carry (SDKs insist on sending one); otherwise the key must be
// known and not revoked.
func (a *authenticator) authenticate(r *http.Request) (backend.Caller, state.Key, error) {
	ctx := r.Context()
	has, err := a.hasKeys(ctx)
	if err != nil {
		return backend.Caller{}, state.Key{}, fmt.Errorf("reading API keys: %w", err)
	}
	if !has {
		if isLoopbackRequest(r) {
			return backend.Caller{}, state.Key{}, nil
		}
		return backend.Caller{}, state.Key{}, authError("this server has no API keys and only serves loopback clients; create a key with `keel keys create --name NAME`")
	}
	secret := secretFrom(r)
	if secret == "" {
		return backend.Caller{}, state.Key{}, authError("missing API key: send it as Authorization: Bearer KEY or as x-api-key: KEY")
	}
	k, found, err := a.lookup(ctx, state.HashKey(secret))
	switch {
	case err != nil:
		return backend.Caller{}, state.Key{}, fmt.Errorf("reading API keys: %w", err)
	case !found:
		return backend.Caller{}, state.Key{}, authError("invalid API key")
	case k.RevokedAt != nil:
		return backend.Caller{}, state.Key{}, authError("API key revoked")
	}
	return backend.Caller{KeyID: k.ID, Name: k.Name}, k, nil
}

// admit applies the key's rate limit and concurrency bound. The release
// function it returns must be called when the request ends.
func (a *authenticator) admit(ctx context.Context, k state.Key) (release func(), err error) {
	if k.ID == "" {
		return func() {}, nil
	}
	if k.RPM > 0 {
		ok, wait, err := a.limiter.Allow(ctx, k.ID, k.RPM)
		if err != nil {
			// A limiter that cannot decide (Redis down) must not take the
			// gateway down with it: admit, and let the error be seen.
			a.log.WarnContext(ctx, "rate limiter unavailable; admitting the request", "key_id", k.ID, "err", err)
			ok = true
		}
		if !ok {
			return nil, &llm.Error{Kind: llm.KindRateLimited, Status: http.StatusTooManyRequests, RetryAfter: wait,
				Message: fmt.Sprintf("rate limit of %d requests per minute reached for this API key; retry in %s", k.RPM, wait.Round(time.Second))}
		}
	}
	if a.maxConc <= 0 {
		return func() {}, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.active[k.ID] >= a.maxConc {
		return nil, &llm.Error{Kind: llm.KindRateLimited, Status: http.StatusTooManyRequests, RetryAfter: time.Second,
			Message: fmt.Sprintf("this API key already has %d requests in flight, the most allowed", a.maxConc)}
	}
	a.active[k.ID]++
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.active[k.ID]--; a.active[k.ID] <= 0 {
			delete(a.active, k.ID)
		}
	}, nil
}

// isLoopbackRequest reports whether r came from loopback to a loopback
// address.
func isLoopbackRequest(r *http.Request) bool {
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || !isLoopbackAddr(la) {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
