// Package api serves Keel's own HTTP API under /api/: chat with stored
// conversations, retrieval over collections and named tools, streamed as
// server-sent events; conversations; collections and their documents;
// usage and cost. Every route is scoped to the caller the server
// authenticated (backend.CallerFrom).
package api

import (
	"log/slog"
	"net/http"

	"github.com/keelai/keel/rag"
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

// New returns the handler of every /api/ route.
// (Contract stub: the API work replaces the body.)
func New(d Deps) http.Handler { return http.NotFoundHandler() }
