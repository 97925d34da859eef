// Package api serves Keel's own HTTP API under /api/: chat with stored
// conversations, retrieval over collections and named tools, streamed as
// server-sent events; conversations; collections and their documents;
// usage and cost. Every route is scoped to the caller the server
// authenticated (backend.CallerFrom).
//
// The handler expects the full request path (/api/chat, not /chat): mount
// it with mux.Handle("/api/", api.New(d)), without http.StripPrefix.
package api

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/rag/chunk"
	"github.com/keelai/keel/server/backend"
	"github.com/keelai/keel/store/state"
	"github.com/keelai/keel/tool"
)

// Deps is what the API serves from. State and Models are required.
type Deps struct {
	Models backend.Models
	State  state.Store
	// RAG is the collections' store; nil turns /api/collections off.
	RAG rag.Store
	// Embedder, when set, embeds uploads and queries (hybrid search);
	// nil means lexical retrieval only.
	Embedder rag.Embedder
	// Tools are the tools a chat may name; nil means none.
	Tools *tool.Registry
	// DefaultModel is used when a chat names no model.
	DefaultModel string
	// MaxUploadBytes bounds one document upload; 0 means 32 MiB.
	MaxUploadBytes int64
	Logger         *slog.Logger
}

const (
	defaultMaxUpload = 32 << 20
	// maxChatBody bounds a chat request: a message, not a document (upload
	// documents to a collection instead).
	maxChatBody = 1 << 20
	// heartbeat keeps proxies from closing a quiet stream (long tool runs).
	heartbeat = 15 * time.Second
)

type handler struct {
	d         Deps
	chunker   rag.Chunker
	log       *slog.Logger
	heartbeat time.Duration
}

// New returns the handler of every /api/ route.
func New(d Deps) http.Handler { return newHandler(d).routes() }

func newHandler(d Deps) *handler {
	if d.MaxUploadBytes <= 0 {
		d.MaxUploadBytes = defaultMaxUpload
	}
	h := &handler{d: d, chunker: chunk.New(chunk.Options{}), log: d.Logger, heartbeat: heartbeat}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h
}

// routes registers each path with its methods, plus a method-less pattern
// for the same path that answers 405 in JSON: ServeMux prefers the more
// specific method pattern, and its own 404/405 bodies are plain text.
func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	type methods map[string]http.HandlerFunc
	for path, ms := range map[string]methods{
		"/api/chat":                                 {"POST": h.chat},
		"/api/conversations":                        {"GET": h.listConversations},
		"/api/conversations/{id}":                   {"GET": h.getConversation, "DELETE": h.deleteConversation},
		"/api/models":                               {"GET": h.models},
		"/api/usage":                                {"GET": h.usage},
		"/api/collections":                          {"GET": h.needRAG(h.listCollections)},
		"/api/collections/{name}":                   {"DELETE": h.needRAG(h.deleteCollection)},
		"/api/collections/{name}/documents":         {"POST": h.needRAG(h.upload)},
		"/api/collections/{name}/documents/{id...}": {"DELETE": h.needRAG(h.deleteDocument)},
		"/api/collections/{name}/search":            {"GET": h.needRAG(h.search)},
	} {
		allow := make([]string, 0, len(ms))
		for m, fn := range ms {
			mux.HandleFunc(m+" "+path, fn)
			allow = append(allow, m)
			if m == "GET" {
				allow = append(allow, "HEAD")
			}
		}
		slices.Sort(allow)
		allowed := strings.Join(allow, ", ")
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allowed)
			writeError(w, http.StatusMethodNotAllowed, "invalid_request", r.Method+" is not allowed on "+r.URL.Path+" (allowed: "+allowed+")")
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such API route: "+r.URL.Path)
	})
	return mux
}

func (h *handler) needRAG(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.d.RAG == nil {
			writeError(w, http.StatusNotFound, "not_found", "collections are not enabled on this server")
			return
		}
		fn(w, r)
	}
}
