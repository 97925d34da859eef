// Package anthropicwire serves the Anthropic Messages API's wire format in
// front of any llm.Model: POST /v1/messages (streamed or not, event for
// event as Anthropic sends them), POST /v1/messages/count_tokens and GET
// /v1/models, so that an Anthropic client reaches every model Keel can
// with only its base URL changed.
package anthropicwire

import (
	"net/http"

	"github.com/keelai/keel/server/backend"
)

// Options configures the handler.
type Options struct {
	// MaxRequestBytes bounds a request body; 0 means 32 MiB.
	MaxRequestBytes int64
}

// New returns the handler of /v1/messages, /v1/messages/count_tokens and
// /v1/models (Anthropic's shape; the server sends a request for /v1/models
// here when it carries an anthropic-version header).
// (Contract stub: the gateway work replaces the body.)
func New(models backend.Models, o Options) http.Handler {
	return http.NotFoundHandler()
}

// WriteError writes err as Anthropic's error body, {"type":"error",
// "error":{"type","message"}}, with the status of its kind (an
// *llm.Error's Status when set) and retry-after when it carries one. The
// server uses it for its own refusals on the routes of this format.
func WriteError(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), http.StatusInternalServerError)
}
