package embed

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/rag"
)

// VoyageReranker is a rag.Reranker over Voyage AI's rerank API (POST
// /v1/rerank), a cross-encoder that reads the query and each passage
// together. It lives beside the Voyage embedder because it is the same
// hand-written client (Voyage has no official Go SDK) with the same errors.
type VoyageReranker struct {
	client *http.Client
	url    string
	key    string
	model  string
	mw     []llm.Middleware
}

var _ rag.Reranker = (*VoyageReranker)(nil)

// NewVoyageReranker returns a reranker for a Voyage rerank model, e.g.
// "rerank-2.5" (the default) or "rerank-2.5-lite". Options.Middleware
// wraps each request, as for embedders, so that retries have one owner.
func NewVoyageReranker(o Options) *VoyageReranker {
	return &VoyageReranker{
		client: cmp.Or(o.HTTPClient, &http.Client{}),
		url:    strings.TrimSuffix(cmp.Or(o.BaseURL, "https://api.voyageai.com/v1"), "/") + "/rerank",
		key:    o.APIKey,
		model:  cmp.Or(o.Model, "rerank-2.5"),
		mw:     o.Middleware,
	}
}

type voyageRerankRequest struct {
	Query      string   `json:"query"`
	Documents  []string `json:"documents"`
	Model      string   `json:"model"`
	Truncation bool     `json:"truncation"`
}

type voyageRerankResponse struct {
	Data []struct {
		Index          int     `json:"index"`
		RelevanceScore float64 `json:"relevance_score"`
	} `json:"data"`
}

// Rerank orders hits by Voyage's relevance score, which becomes each hit's
// Score. Passages the API leaves out keep their order after the others.
func (r *VoyageReranker) Rerank(ctx context.Context, query string, hits []rag.Hit) ([]rag.Hit, error) {
	if len(hits) == 0 {
		return hits, nil
	}
	docs := make([]string, len(hits))
	for i, h := range hits {
		docs[i] = h.Text
	}
	var vr voyageRerankResponse
	call := func(ctx context.Context) error {
		body, err := json.Marshal(voyageRerankRequest{Query: query, Documents: docs, Model: r.model, Truncation: true})
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
		if err != nil {
			return wrapErr(ctx, "voyage", err, nil)
		}
		req.Header.Set("Content-Type", "application/json")
		if r.key != "" {
			req.Header.Set("Authorization", "Bearer "+r.key)
		}
		res, err := r.client.Do(req)
		if err != nil {
			return wrapErr(ctx, "voyage", err, nil)
		}
		defer res.Body.Close()
		if res.StatusCode >= 400 {
			return wrapErr(ctx, "voyage", readStatusError(res), nil)
		}
		vr = voyageRerankResponse{}
		if err := json.NewDecoder(res.Body).Decode(&vr); err != nil {
			return wrapErr(ctx, "voyage", fmt.Errorf("decode response: %w", err), nil)
		}
		return nil
	}
	if err := asModelCall(ctx, "voyage/"+r.model, r.mw, call); err != nil {
		return nil, err
	}
	out := make([]rag.Hit, 0, len(hits))
	seen := make([]bool, len(hits))
	for _, d := range vr.Data {
		if d.Index < 0 || d.Index >= len(hits) || seen[d.Index] {
			return nil, &llm.Error{Kind: llm.KindServer, Provider: "voyage", Message: fmt.Sprintf("malformed response: rerank index %d out of range or repeated", d.Index)}
		}
		seen[d.Index] = true
		h := hits[d.Index]
		h.Score = d.RelevanceScore
		out = append(out, h)
	}
	// The API sorts by score already; sorting again costs nothing and
	// does not trust it.
	slices.SortStableFunc(out, func(a, b rag.Hit) int { return cmp.Compare(b.Score, a.Score) })
	for i, h := range hits {
		if !seen[i] {
			h.Score = 0
			out = append(out, h)
		}
	}
	return out, nil
}
