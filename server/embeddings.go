package server

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/rag/embed"
	"github.com/keelai/keel/server/backend"
)

// embeddings serves POST /v1/embeddings with rag/embed's embedders, built
// from the same provider settings the resolver reads (keel.yaml's
// providers, then the built-in providers' environment variables). The
// resolver opens chat models only, hence this small mirror of its lookup.
type embeddings struct {
	cfg    *config.Config
	getenv func(string) string

	mu    sync.Mutex
	built map[string]rag.Embedder
}

func newEmbeddings(cfg *config.Config, getenv func(string) string) *embeddings {
	return &embeddings{cfg: cfg, getenv: getenv, built: map[string]rag.Embedder{}}
}

// Embed embeds inputs with model, "provider/model" or a bare OpenAI model
// name (what OpenAI clients send). Embedders do not report token counts,
// so inputTokens is 0.
func (e *embeddings) Embed(ctx context.Context, model string, inputs []string) ([][]float32, int, error) {
	emb, err := e.embedder(model)
	if err != nil {
		return nil, 0, err
	}
	vecs, err := emb.Embed(ctx, inputs)
	return vecs, 0, err
}

func (e *embeddings) embedder(model string) (rag.Embedder, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if emb, ok := e.built[model]; ok {
		return emb, nil
	}
	prov, name, ok := strings.Cut(model, "/")
	if !ok {
		prov, name = config.TypeOpenAI, model
	}
	if name == "" {
		return nil, fmt.Errorf("%w: %q", backend.ErrUnknownModel, model)
	}
	typ, base, key := prov, "", ""
	if p, ok := e.cfg.Providers[prov]; ok {
		typ, base, key = cmp.Or(p.Type, prov), p.BaseURL, p.APIKey.Reveal()
		if p.APIKeyEnv != "" {
			key = e.getenv(p.APIKeyEnv)
		}
	} else if !config.IsType(prov) {
		return nil, fmt.Errorf("%w: %q (unknown provider %q)", backend.ErrUnknownModel, model, prov)
	}
	if _, declared := e.cfg.Providers[prov]; !declared || key == "" {
		switch prov {
		case config.TypeOpenAI:
			key, base = cmp.Or(key, e.getenv(config.EnvOpenAIKey)), cmp.Or(base, e.getenv(config.EnvOpenAIBaseURL))
		case config.TypeGemini:
			key = cmp.Or(key, e.getenv(config.EnvGeminiKey))
		case config.TypeOllama:
			base = cmp.Or(base, e.getenv(config.EnvOllamaHost))
		}
	}
	o := embed.Options{Model: name, Provider: prov, APIKey: key, BaseURL: base}
	var emb rag.Embedder
	var err error
	switch typ {
	case config.TypeOpenAI:
		if key == "" && base == "" {
			return nil, noEmbedKey(model)
		}
		emb, err = embed.NewOpenAI(o)
	case config.TypeGemini:
		if key == "" {
			return nil, noEmbedKey(model)
		}
		emb, err = embed.NewGemini(o)
	case config.TypeOllama:
		o.BaseURL = ""
		emb, err = embed.NewOllama(cmp.Or(base, "127.0.0.1:11434"), o)
	default:
		return nil, fmt.Errorf("%w: %q (%s has no embeddings API Keel speaks)", backend.ErrUnknownModel, model, typ)
	}
	if err != nil {
		return nil, err
	}
	if len(e.built) < maxCachedModels {
		e.built[model] = emb
	}
	return emb, nil
}

func noEmbedKey(model string) error {
	no := false
	return &llm.Error{Kind: llm.KindServer, Status: http.StatusServiceUnavailable, ShouldRetry: &no,
		Message: fmt.Sprintf("embedding model %q is not available on this server: its provider has no API key", model)}
}
