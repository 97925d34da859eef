package embed

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/keelai/keel/rag"
)

// Voyage embeds with Voyage AI's embeddings API. Voyage publishes no
// official Go SDK, so this is a small hand-written client for its one
// endpoint (POST /v1/embeddings). Documents are embedded with input_type
// "document" and queries (EmbedQuery) with "query", as Voyage recommends
// for retrieval. It is safe for concurrent use.
type Voyage struct {
	*batcher
	client *http.Client
	url    string
	key    string
	opts   Options
}

var (
	_ rag.Embedder      = (*Voyage)(nil)
	_ rag.QueryEmbedder = (*Voyage)(nil)
)

var voyageDims = map[string]int{
	"voyage-3.5":      1024,
	"voyage-3.5-lite": 1024,
	"voyage-3-large":  1024,
	"voyage-code-3":   1024,
	"voyage-3":        1024,
	"voyage-3-lite":   512,
}

// NewVoyage returns an embedder for a Voyage model, e.g. "voyage-3.5".
func NewVoyage(o Options) (*Voyage, error) {
	// Voyage accepts up to 1000 texts per request, within a token budget
	// that 128 ordinary chunks stay well inside.
	b, err := newBatcher(o, "voyage", 128, voyageDims[o.Model])
	if err != nil {
		return nil, err
	}
	return &Voyage{
		batcher: b,
		client:  cmp.Or(o.HTTPClient, &http.Client{}),
		url:     strings.TrimSuffix(cmp.Or(o.BaseURL, "https://api.voyageai.com/v1"), "/") + "/embeddings",
		key:     o.APIKey,
		opts:    o,
	}, nil
}

// Embed returns one vector per text, embedded as documents for retrieval.
func (e *Voyage) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return e.run(ctx, texts, func(ctx context.Context, texts []string) ([][]float32, error) {
		return e.batch(ctx, texts, "document")
	})
}

// EmbedQuery embeds a search query.
func (e *Voyage) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	v, err := e.run(ctx, []string{text}, func(ctx context.Context, texts []string) ([][]float32, error) {
		return e.batch(ctx, texts, "query")
	})
	if err != nil {
		return nil, err
	}
	return v[0], nil
}

type voyageRequest struct {
	Input           []string `json:"input"`
	Model           string   `json:"model"`
	InputType       string   `json:"input_type,omitempty"`
	OutputDimension int      `json:"output_dimension,omitempty"`
}

type voyageResponse struct {
	Data []struct {
		Embedding []float32 `json:"embedding"`
		Index     int       `json:"index"`
	} `json:"data"`
}

func (e *Voyage) batch(ctx context.Context, texts []string, inputType string) ([][]float32, error) {
	body, err := json.Marshal(voyageRequest{Input: texts, Model: e.model, InputType: inputType, OutputDimension: e.opts.Dimensions})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return nil, wrapErr(ctx, e.provider, err, nil)
	}
	req.Header.Set("Content-Type", "application/json")
	if e.key != "" {
		req.Header.Set("Authorization", "Bearer "+e.key)
	}
	res, err := e.client.Do(req)
	if err != nil {
		return nil, wrapErr(ctx, e.provider, err, nil)
	}
	defer res.Body.Close()
	if res.StatusCode >= 400 {
		return nil, wrapErr(ctx, e.provider, readStatusError(res), nil)
	}
	var vr voyageResponse
	if err := json.NewDecoder(res.Body).Decode(&vr); err != nil {
		return nil, wrapErr(ctx, e.provider, fmt.Errorf("decode response: %w", err), nil)
	}
	out := make([][]float32, len(texts))
	for _, d := range vr.Data {
		if d.Index < 0 || d.Index >= len(out) || out[d.Index] != nil {
			return nil, e.malformed("embedding index %d out of range or repeated", d.Index)
		}
		out[d.Index] = d.Embedding
	}
	return out, nil
}
