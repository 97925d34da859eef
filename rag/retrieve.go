package rag

import (
	"context"
	"errors"
	"fmt"
)

// Retriever answers queries from a Store: it embeds the query when the
// mode needs a vector, then optionally reranks and diversifies the hits.
// The zero Mode of a query means Hybrid when an Embedder is set and
// Lexical otherwise.
type Retriever struct {
	Store Store
	// Embedder embeds queries for vector and hybrid search; it must be the
	// embedder the collection was ingested with.
	Embedder Embedder
	// Rewriter, when set, rewrites the query text before searching (for
	// example a model that turns a chatty question into search terms).
	Rewriter Rewriter
	// Reranker, when set, reorders a wider candidate set.
	Reranker Reranker
	// MMR, when in (0, 1), diversifies the final hits with maximal marginal
	// relevance at this lambda (1 is pure relevance).
	MMR float64
}

// Rewriter rewrites a query before retrieval.
type Rewriter interface {
	Rewrite(ctx context.Context, query string) (string, error)
}

// Retrieve returns the best hits for q from a collection.
func (r *Retriever) Retrieve(ctx context.Context, collection string, q Query) ([]Hit, error) {
	if r.Store == nil {
		return nil, errors.New("retrieve: Retriever needs a Store")
	}
	if q.Mode == "" {
		q.Mode = Lexical
		if r.Embedder != nil {
			q.Mode = Hybrid
		}
	}
	if _, err := ParseMode(string(q.Mode)); err != nil {
		return nil, err
	}
	if r.Rewriter != nil {
		text, err := r.Rewriter.Rewrite(ctx, q.Text)
		if err != nil {
			return nil, fmt.Errorf("retrieve: rewrite query: %w", err)
		}
		q.Text = text
	}
	if q.Mode != Lexical && q.Vector == nil {
		if r.Embedder == nil {
			return nil, fmt.Errorf("retrieve: %s search needs an embedder; configure one or use --mode lexical", q.Mode)
		}
		v, err := r.embedQuery(ctx, q.Text)
		if err != nil {
			return nil, fmt.Errorf("retrieve: embed query: %w", err)
		}
		q.Vector = v
	}
	k := q.Limit()
	diversify := r.MMR > 0 && r.MMR < 1
	if r.Reranker != nil || diversify {
		q.K = max(4*k, 20)
		q.WithVectors = q.WithVectors || (diversify && q.Mode != Lexical)
	}
	hits, err := r.Store.Search(ctx, collection, q)
	if err != nil {
		return nil, err
	}
	if r.Reranker != nil {
		if hits, err = r.Reranker.Rerank(ctx, q.Text, hits); err != nil {
			return nil, fmt.Errorf("retrieve: rerank: %w", err)
		}
	}
	if diversify {
		sim := WordSim
		if q.WithVectors {
			sim = CosineSim
		}
		hits = MMR(hits, k, r.MMR, sim)
	}
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits, nil
}

func (r *Retriever) embedQuery(ctx context.Context, text string) ([]float32, error) {
	if qe, ok := r.Embedder.(QueryEmbedder); ok {
		return qe.EmbedQuery(ctx, text)
	}
	v, err := r.Embedder.Embed(ctx, []string{text})
	if err != nil {
		return nil, err
	}
	if len(v) != 1 {
		return nil, fmt.Errorf("embedder %s returned %d vectors for 1 text", r.Embedder.Name(), len(v))
	}
	return v[0], nil
}
