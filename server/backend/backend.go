// Package backend is the contract between Keel's HTTP front ends (the
// OpenAI- and Anthropic-compatible gateway handlers, Keel's own /api) and
// the server that owns models, middleware and state. It is small on
// purpose: a front end decodes a wire format, asks for a model by the name
// the client sent, and encodes what comes back.
package backend

import (
	"context"
	"errors"
	"time"

	"github.com/keelai/keel/llm"
)

// ErrUnknownModel is wrapped by Models.Open when a client names a model
// that is neither an alias nor a `provider/model` the server can reach.
// Front ends answer it with their format's 404 (model not found).
var ErrUnknownModel = errors.New("unknown model")

// Models opens the model a client names: an alias of keel.yaml or a
// `provider/model` name. The model comes wrapped in the server's
// middleware stack (retries, fallbacks, limits, budgets, cost, logs,
// metrics, traces), and calls are attributed to the caller the server put
// in ctx. Open is cheap: servers cache what they build.
type Models interface {
	Open(ctx context.Context, name string) (llm.Model, error)
	// List returns the models a client may name, for GET /v1/models.
	List(ctx context.Context) []ModelInfo
}

// ModelInfo describes one model a client may name.
type ModelInfo struct {
	// ID is what a client sends as "model": an alias or provider/model.
	ID string
	// Provider is the provider name ("anthropic", "openai", …).
	Provider string
	// Target is the provider/model name the ID stands for.
	Target string
	// Default says this is the model used when a client names none.
	Default bool
	Created time.Time
}

// Embeddings serves POST /v1/embeddings.
type Embeddings interface {
	// Embed returns one vector per input, in order, and the input tokens
	// the provider counted (0 when it does not say).
	Embed(ctx context.Context, model string, inputs []string) (vectors [][]float32, inputTokens int, err error)
}
