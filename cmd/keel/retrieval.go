package main

import (
	"context"
	"io"
	"strings"

	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/rag/embed"
)

// Environment variables of the Voyage reranker (`--rerank voyage/MODEL`).
const (
	envVoyageKey     = "VOYAGE_API_KEY"
	envVoyageBaseURL = "VOYAGE_BASE_URL"
)

// retriever returns a Retriever over st with keel.yaml's embedder (for
// vector and hybrid search) and the optional query rewriting and
// reranking steps of --rewrite MODEL and --rerank MODEL. A rerank model
// named voyage/… is Voyage's rerank API (a cross-encoder); any other is a
// chat model judging the passages. The caller closes the closer.
func (a *app) retriever(ctx context.Context, st rag.Store, rewrite, rerank string) (*rag.Retriever, io.Closer, error) {
	emb, closer, err := a.embedder(ctx)
	if err != nil {
		return nil, nil, err
	}
	r, err := a.retrievalSteps(&rag.Retriever{Store: st, Embedder: emb}, rewrite, rerank)
	if err != nil {
		closer.Close()
		return nil, nil, err
	}
	return r, closer, nil
}

func (a *app) retrievalSteps(r *rag.Retriever, rewrite, rerank string) (*rag.Retriever, error) {
	if rewrite != "" {
		m, err := a.model(rewrite)
		if err != nil {
			return nil, err
		}
		r.Rewriter = rag.ModelRewriter{Model: m}
	}
	switch {
	case strings.HasPrefix(rerank, "voyage/"):
		r.Reranker = embed.NewVoyageReranker(embed.Options{
			Model:   strings.TrimPrefix(rerank, "voyage/"),
			APIKey:  a.getenv(envVoyageKey),
			BaseURL: a.getenv(envVoyageBaseURL),
		})
	case rerank != "":
		m, err := a.model(rerank)
		if err != nil {
			return nil, err
		}
		r.Reranker = rag.ModelReranker{Model: m}
	}
	return r, nil
}
