package main

import (
	"strings"

	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/rag/embed"
)

// Environment variables of the Voyage reranker (`--rerank voyage/MODEL`).
const (
	envVoyageKey     = "VOYAGE_API_KEY"
	envVoyageBaseURL = "VOYAGE_BASE_URL"
)

// retriever returns a Retriever over st with the optional query rewriting
// and reranking steps of --rewrite MODEL and --rerank MODEL. A rerank model
// named voyage/… is Voyage's rerank API (a cross-encoder); any other is a
// chat model judging the passages.
func (a *app) retriever(st rag.Store, rewrite, rerank string) (*rag.Retriever, error) {
	r := &rag.Retriever{Store: st}
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
