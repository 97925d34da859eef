package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/server/anthropicwire"
	"github.com/keelai/keel/server/api"
	"github.com/keelai/keel/server/backend"
	"github.com/keelai/keel/server/openaiwire"
	"github.com/keelai/keel/server/web"
	"github.com/keelai/keel/tool"
)

// format is the error format of a route: each answers refusals the way
// its clients parse them.
type format uint8

const (
	formatAPI format = iota
	formatOpenAI
	formatAnthropic
)

func (f format) writeError(w http.ResponseWriter, err error) {
	switch f {
	case formatOpenAI:
		openaiwire.WriteError(w, err)
	case formatAnthropic:
		anthropicwire.WriteError(w, err)
	default:
		writeAPIError(w, err)
	}
}

// writeAPIError writes the /api contract's error body.
func writeAPIError(w http.ResponseWriter, err error) {
	status, typ := http.StatusInternalServerError, "server"
	var le *llm.Error
	if errors.As(err, &le) {
		typ = string(le.Kind)
		status = cmp.Or(le.Status, http.StatusInternalServerError)
		if le.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((le.RetryAfter+time.Second-1)/time.Second)))
		}
	}
	msg := "internal error"
	if le != nil {
		msg = le.Message
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"type": typ, "message": msg}})
}

type routeDeps struct {
	gatherer   prometheus.Gatherer
	embeddings backend.Embeddings
	rag        rag.Store
	embedder   rag.Embedder
	tools      *tool.Registry
}

// routes builds the whole handler: observe (request id, access log,
// metrics, panics) around the mux, and auth and limits around each
// authenticated route.
func (s *Server) routes(d routeDeps) http.Handler {
	maxBody := cmp.Or(s.cfg.Limits.MaxRequestBytes, DefaultMaxRequestBytes)
	oa := openaiwire.New(s.models, d.embeddings, openaiwire.Options{MaxRequestBytes: maxBody})
	an := anthropicwire.New(s.models, anthropicwire.Options{MaxRequestBytes: maxBody})
	defaultModel, _ := s.models.res.Default()
	apiH := api.New(api.Deps{
		Models: s.models, State: s.state, RAG: d.rag, Embedder: d.embedder, Tools: d.tools,
		DefaultModel: defaultModel, Logger: s.log,
	})

	g := func(f format, limit int64, h http.Handler) http.Handler {
		return s.guard(f, limit, h)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/chat/completions", g(formatOpenAI, maxBody, oa))
	mux.Handle("POST /v1/embeddings", g(formatOpenAI, maxBody, oa))
	mux.Handle("POST /v1/messages", g(formatAnthropic, maxBody, an))
	mux.Handle("POST /v1/messages/count_tokens", g(formatAnthropic, maxBody, an))
	// Both APIs list models at the same path; Anthropic's clients always
	// send anthropic-version, OpenAI's never do.
	models := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("anthropic-version") != "" {
			g(formatAnthropic, 0, an).ServeHTTP(w, r)
			return
		}
		g(formatOpenAI, 0, oa).ServeHTTP(w, r)
	})
	mux.Handle("GET /v1/models", models)
	mux.Handle("GET /v1/models/{id...}", models)
	// Uploads are bounded by the API itself (Deps.MaxUploadBytes).
	mux.Handle("POST /api/collections/{name}/documents", g(formatAPI, -1, apiH))
	mux.Handle("/api/", g(formatAPI, maxBody, apiH))

	mux.Handle("GET /metrics", promhttp.HandlerFor(d.gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("/", web.Handler())
	return s.obs.wrap(mux)
}

// guard authenticates a request, applies its key's limits and bounds its
// body (limit < 0: the handler bounds it; 0: no body expected).
func (s *Server) guard(f format, limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, key, err := s.auth.authenticate(r)
		if err != nil {
			s.refuse(w, r, f, err)
			return
		}
		info := infoFrom(r.Context())
		info.setCaller(caller)
		release, err := s.auth.admit(r.Context(), key)
		if err != nil {
			s.refuse(w, r, f, err)
			return
		}
		defer release()
		if limit > 0 && r.ContentLength > limit {
			s.refuse(w, r, f, &llm.Error{Kind: llm.KindInvalidRequest, Status: http.StatusRequestEntityTooLarge,
				Message: "request body is larger than the server's limit of " + strconv.FormatInt(limit, 10) + " bytes (limits.max_request_bytes)"})
			return
		}
		if limit > 0 {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r.WithContext(backend.WithCaller(r.Context(), caller)))
	})
}

// refuse answers a refusal in the route's format; errors that are not
// refusals (a store that failed) are logged and answered 500 without
// their text.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, f format, err error) {
	var le *llm.Error
	if !errors.As(err, &le) {
		s.log.ErrorContext(r.Context(), "request refused by a server error", "err", llm.Redact(err.Error()))
		err = &llm.Error{Kind: llm.KindServer, Status: http.StatusInternalServerError, Message: "internal server error"}
	}
	f.writeError(w, err)
}

// readyz reports whether this replica should get traffic: not shutting
// down, and its state store (and Redis, when used) answering.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.stopping.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.state.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness: state store unavailable", "err", llm.Redact(err.Error()))
		http.Error(w, "state store unavailable", http.StatusServiceUnavailable)
		return
	}
	if s.ready != nil {
		if err := s.ready(ctx); err != nil {
			s.log.WarnContext(ctx, "readiness check failed", "err", llm.Redact(err.Error()))
			http.Error(w, "not ready: "+strings.SplitN(llm.Redact(err.Error()), ":", 2)[0], http.StatusServiceUnavailable)
			return
		}
	}
	w.Write([]byte("ready\n"))
}
