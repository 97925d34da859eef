// Package openaiwire serves the OpenAI API's wire format in front of any
// llm.Model: POST /v1/chat/completions (streamed or not), GET /v1/models
// and POST /v1/embeddings, so that an OpenAI client reaches every model
// Keel can with only its base URL changed.
package openaiwire

import (
	"net/http"

	"github.com/keelai/keel/server/backend"
)

// Options configures the handler.
type Options struct {
	// MaxRequestBytes bounds a request body; 0 means 16 MiB.
	MaxRequestBytes int64
}

// New returns the handler of /v1/chat/completions, /v1/models and
// /v1/embeddings. emb may be nil: embeddings then answer 404.
// (Contract stub: the gateway work replaces the body.)
func New(models backend.Models, emb backend.Embeddings, o Options) http.Handler {
	return http.NotFoundHandler()
}

// WriteError writes err as OpenAI's error body, {"error":{"message",
// "type","param","code"}}, with the status of its kind (an *llm.Error's
// Status when set) and retry-after when it carries one. The server uses it
// for its own refusals (401, 429, 413) on the /v1 routes of this format.
func WriteError(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), http.StatusInternalServerError)
}
