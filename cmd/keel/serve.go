package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/keelai/keel/internal/logbuf"
	"github.com/keelai/keel/server"
	"github.com/keelai/keel/store/redis"
)

// serveGCPercent is keel serve's GOGC when the environment sets none.
const serveGCPercent = 200

func cmdServe(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("serve", "[--addr HOST:PORT]", `
Serve every model Keel can reach over HTTP: the OpenAI API (/v1/chat/completions,
/v1/embeddings, /v1/models), the Anthropic API (/v1/messages,
/v1/messages/count_tokens), Keel's own API (/api/) and a chat page (/), with
the middleware stack on every call. /metrics, /healthz and /readyz are for
operations. Logs go to standard error as JSON, one record per request, written
in batches at most 0.1 s apart.

The address comes from --addr, else keel.yaml's server.addr, else
127.0.0.1:8080. Without API keys (keel keys create) the server answers only
loopback clients and refuses to listen on any other address. Ctrl-C or
SIGTERM stops it gracefully: open streams get server.shutdown_timeout to end.`)
	addr := f.String("addr", "", "listen on `HOST:PORT` (port 0 picks a free one)")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve", "unexpected argument %q", pos[0])
	}
	cfg, err := a.config()
	if err != nil {
		return err
	}
	listen := cmp.Or(*addr, cfg.Server.Addr, server.DefaultAddr)
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return usagef("serve", "--addr %q: want HOST:PORT, e.g. 127.0.0.1:8080", listen)
	}
	res, err := a.resolver()
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer a.onInterrupt(cancel)()
	if a.notify != nil { // the real process: SIGTERM too (containers, systemd)
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, syscall.SIGTERM)
		defer stop()
		if os.Getenv("GOGC") == "" {
			// The server's live heap is small (about 4 MB), so at the
			// default GOGC=100 it collects every few hundred requests and
			// the collector was a fifth of its CPU under load. 200 trades
			// about 8 MB of heap for that fifth (bench/gateway,
			// BENCHMARKS.md); GOGC in the environment still decides.
			debug.SetGCPercent(serveGCPercent)
		}
	}

	st, err := server.OpenState(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	// Collections: the embedded store beside the state, or Weaviate; with
	// rag.embedder, uploads get vectors and chats retrieve hybrid.
	rs, err := a.ragStore(ctx)
	if err != nil {
		return err
	}
	defer rs.Close()
	emb, closeEmb, err := a.embedder(ctx)
	if err != nil {
		return err
	}
	defer closeEmb.Close()

	// Records are buffered (at most logbuf.Interval) rather than written
	// one system call each: two per request under load. Deferred first
	// among what follows, the buffer is written out last, after the
	// server's own shutdown records.
	logs := logbuf.New(a.stderr)
	defer logs.Close()
	opts := server.Options{
		Config: cfg, Resolver: res, Getenv: a.getenv, State: st, RAG: rs, Embedder: emb,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	}
	if u := cfg.Storage.RedisURL.Reveal(); u != "" {
		// Replicas share rate limits, budgets and the response cache here.
		rc, err := redis.Open(ctx, u)
		if err != nil {
			return err
		}
		defer rc.Close()
		opts.Limiter, opts.BudgetStore, opts.Ready = rc.KeyLimiter(), rc.BudgetStore(), rc.Ping
		opts.Cache = rc.Cache(redis.CacheOptions{MaxTTL: cfg.Server.CacheTTL})
	}
	srv, err := server.New(ctx, opts)
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", listen)
	if err != nil {
		return err
	}
	if err := srv.CheckAddr(ctx, ln.Addr()); err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(a.stdout, "keel serve: listening on http://%s\n", ln.Addr())
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	return srv.Close()
}
