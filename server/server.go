// Package server is `keel serve`: one HTTP server in front of every model
// Keel can reach. It mounts the OpenAI- and Anthropic-compatible gateway
// (server/openaiwire, server/anthropicwire), Keel's own API (server/api)
// and the chat page (server/web), and owns what they share: the models,
// each wrapped once in the middleware stack; API keys, per-key rate limits,
// budgets and concurrency; the usage ledger; access logs, Prometheus
// metrics, health and readiness; the HTTP hardening (timeouts, size
// limits, panics); and the graceful shutdown that lets open streams finish.
//
//	srv, err := server.New(ctx, server.Options{Config: cfg, Resolver: res, State: st})
//	...
//	defer srv.Close()
//	err = srv.ListenAndServe(ctx) // returns after ctx is cancelled and streams finished
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/middleware"
	"github.com/keelai/keel/middleware/ratelimit"
	"github.com/keelai/keel/middleware/respcache"
	"github.com/keelai/keel/provider"
	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/server/backend"
	"github.com/keelai/keel/store/state"
	"github.com/keelai/keel/tool"
)

// Defaults of the settings keel.yaml's server and limits sections leave at 0.
const (
	DefaultAddr              = "127.0.0.1:8080"
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultBodyTimeout       = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxRequestBytes   = 16 << 20
	// DefaultKeyCacheTTL is how long a key looked up by its hash is
	// trusted before the state store is asked again: a revocation takes
	// effect on every replica within it.
	DefaultKeyCacheTTL = 5 * time.Second
)

// ErrNoKeys is returned by Serve when asked to listen beyond loopback
// while no API key exists: anyone who can reach the address could spend
// the server's provider keys.
var ErrNoKeys = errors.New("no API keys exist; create one with `keel keys create --name NAME` before listening beyond loopback (127.0.0.1, ::1)")

// Options configures New. State is required; everything else has a
// default.
type Options struct {
	// Config is keel.yaml (server, limits and the aliases' prices and
	// fallbacks); nil means all defaults.
	Config *config.Config
	// Resolver opens models by name; nil means provider.NewResolver(Config,
	// Getenv).
	Resolver *provider.Resolver
	// Getenv reads provider settings for embeddings; nil means no
	// environment (only keel.yaml).
	Getenv func(string) string
	// State holds keys, conversations and the usage ledger.
	State state.Store
	// Limiter enforces each key's requests per minute; nil means one in
	// memory (per process).
	Limiter ratelimit.KeyLimiter
	// Cache stores cached responses when server.cache_ttl is set; nil
	// means one in memory of 64 MiB.
	Cache respcache.Store
	// BudgetStore keeps the per-key daily budgets' accounting; nil means
	// memory (per process). Replicas share budgets through one store (the
	// Redis one).
	BudgetStore cost.BudgetStore
	// Budgets, when set, replaces the per-key daily budgets built from
	// each key's Budget.
	Budgets []cost.BudgetSource
	// RAG is the collections' store for /api; nil turns collections off.
	RAG rag.Store
	// Embedder embeds /api uploads and queries; nil means lexical only.
	Embedder rag.Embedder
	// Embeddings serves POST /v1/embeddings; nil means embedders built
	// from the providers' settings (openai, gemini, ollama).
	Embeddings backend.Embeddings
	// Tools are the tools an /api chat may name.
	Tools *tool.Registry
	// Ready, when set, is one more readiness check for /readyz (Redis).
	Ready func(context.Context) error
	// Logger receives access logs and model-call logs; nil discards them.
	Logger *slog.Logger
	// Registerer and Gatherer are where metrics go and /metrics reads
	// from; nil means a registry of the server's own.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Stack, when set, adjusts the middleware stack's options (built from
	// keel.yaml) before any model is wrapped: breaker thresholds, guard
	// rules, logging options.
	Stack func(*middleware.StackOptions)
	// KeyCacheTTL: see DefaultKeyCacheTTL; negative turns the cache off.
	KeyCacheTTL time.Duration
	// Clock tells time for budgets, limits and the ledger; nil means the
	// real clock.
	Clock clockwork.Clock
}

// Server is a configured server. Serve it with Serve or ListenAndServe,
// or mount Handler in a server of your own; Close it when done.
type Server struct {
	cfg    *config.Config
	state  state.Store
	log    *slog.Logger
	clock  clockwork.Clock
	ready  func(context.Context) error
	models *models
	ledger *ledger
	auth   *authenticator
	obs    *observer

	handler http.Handler

	// stopping is set when a shutdown begins: /readyz answers 503 so a
	// load balancer stops sending new requests.
	stopping  atomic.Bool
	closeOnce sync.Once
	closeErr  error
	closers   []func(context.Context) error
}

// New builds a server. It starts the usage ledger's writer, which Close
// stops.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.State == nil {
		return nil, errors.New("server: Options.State is required")
	}
	cfg := o.Config
	if cfg == nil {
		cfg = &config.Config{}
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	res := o.Resolver
	if res == nil {
		res = provider.NewResolver(cfg, getenv)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := o.Clock
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	reg, gat := o.Registerer, o.Gatherer
	if reg == nil && gat == nil {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg, gat = r, r
	} else if reg == nil || gat == nil {
		return nil, errors.New("server: set both Options.Registerer and Options.Gatherer, or neither")
	}
	s := &Server{cfg: cfg, state: o.State, log: log, clock: clock, ready: o.Ready}

	obs, err := newObserver(reg, log)
	if err != nil {
		return nil, fmt.Errorf("server: metrics: %w", err)
	}
	s.obs = obs
	s.ledger = newLedger(o.State, log, clock, obs)
	s.closers = append(s.closers, s.ledger.close)

	limiter := o.Limiter
	if limiter == nil {
		limiter = ratelimit.NewMemoryKeyLimiter(clock)
	}
	s.auth = newAuthenticator(o.State, limiter, cfg.Server.MaxConcurrentPerKey, cmp.Or(o.KeyCacheTTL, DefaultKeyCacheTTL), clock, log)

	m, shutdownTracing, err := newModels(ctx, modelsOptions{
		cfg: cfg, res: res, log: log, reg: reg, clock: clock, cache: o.Cache,
		budgets: o.Budgets, budgetStore: o.BudgetStore, budgetOf: s.auth.budgetOf, adjust: o.Stack, ledger: s.ledger,
	})
	if err != nil {
		s.ledger.close(ctx)
		return nil, err
	}
	s.models = m
	if shutdownTracing != nil {
		s.closers = append(s.closers, shutdownTracing)
	}

	emb := o.Embeddings
	if emb == nil {
		emb = newEmbeddings(cfg, getenv)
	}
	s.handler = s.routes(routeDeps{gatherer: gat, embeddings: emb, rag: o.RAG, embedder: o.Embedder, tools: o.Tools})
	return s, nil
}

// Models is the server's backend.Models: every model wrapped in the
// middleware stack, calls attributed to the caller in the context.
func (s *Server) Models() backend.Models { return s.models }

// Handler returns the server's whole HTTP handler (every route, auth,
// limits, logs and metrics), for tests and for mounting in another server.
// Requests reaching it through Handler alone are never refused for a
// non-loopback listener: that check is Serve's.
func (s *Server) Handler() http.Handler { return s.handler }

// ListenAndServe listens on keel.yaml's server.addr (DefaultAddr when
// unset) and serves until ctx is cancelled.
func (s *Server) ListenAndServe(ctx context.Context) error {
	addr := cmp.Or(s.cfg.Server.Addr, DefaultAddr)
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is cancelled, then shuts down gracefully:
// it stops accepting, /readyz turns 503, requests and streams in progress
// get server.shutdown_timeout to finish, and whatever is still running
// then has its context cancelled (ending its upstream call) and its
// connection closed. Serve closes ln. It refuses (ErrNoKeys) to serve a
// non-loopback address while no API key exists.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.CheckAddr(ctx, ln.Addr()); err != nil {
		ln.Close()
		return err
	}
	// Handlers' contexts descend from base, not from ctx: cancelling ctx
	// starts the shutdown, which must let streams finish first.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	headers := cmp.Or(s.cfg.Server.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: headers,
		// ReadTimeout bounds headers and body together; net/http lifts
		// the read deadline once the body has been read, so it never
		// cuts a stream. No WriteTimeout: it would bound a stream's
		// whole life.
		ReadTimeout:    headers + cmp.Or(s.cfg.Server.BodyTimeout, DefaultBodyTimeout),
		IdleTimeout:    cmp.Or(s.cfg.Server.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes: cmp.Or(s.cfg.Server.MaxHeaderBytes, DefaultMaxHeaderBytes),
		BaseContext:    func(net.Listener) context.Context { return base },
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	s.stopping.Store(true)
	grace := cmp.Or(s.cfg.Server.ShutdownTimeout, DefaultShutdownTimeout)
	s.log.Info("shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		// The grace period is over: cancel what still runs, so handlers
		// stop their upstream calls, then close the connections.
		s.log.Warn("shutdown grace period over; cutting open requests", "grace", grace.String())
		cancelBase()
		hs.Close()
	}
	<-errc // http.ErrServerClosed
	return nil
}

// CheckAddr returns the error Serve would refuse a listener on addr with:
// ErrNoKeys for an address beyond loopback while no API key exists.
func (s *Server) CheckAddr(ctx context.Context, addr net.Addr) error {
	if isLoopbackAddr(addr) {
		return nil
	}
	has, err := s.auth.hasKeys(ctx)
	if err != nil {
		return fmt.Errorf("server: checking for API keys: %w", err)
	}
	if !has {
		return fmt.Errorf("server: refusing to listen on %s: %w", addr, ErrNoKeys)
	}
	return nil
}

// Close flushes the usage ledger and the traces and releases what New
// started. It does not close the State, which the caller opened.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var errs []error
		for _, c := range s.closers {
			errs = append(errs, c(ctx))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// isLoopbackAddr reports whether a listener's address is loopback only.
// An unspecified address (":8080", "0.0.0.0") is every interface: not.
func isLoopbackAddr(a net.Addr) bool {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true // a socket file is reached only by this machine's users
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
