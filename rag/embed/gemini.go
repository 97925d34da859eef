package embed

import (
	"cmp"
	"context"
	"net/http"
	"sync"

	"google.golang.org/genai"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/provider/gemini"
	"github.com/keelai/keel/rag"
)

// Gemini embeds with the Gemini Developer API (batchEmbedContents) through
// the official genai SDK. Documents are embedded with the RETRIEVAL_DOCUMENT
// task and queries (EmbedQuery) with RETRIEVAL_QUERY, as Google recommends
// for search. It is safe for concurrent use.
type Gemini struct {
	*batcher
	client *genai.Client
	opts   Options
}

var (
	_ rag.Embedder      = (*Gemini)(nil)
	_ rag.QueryEmbedder = (*Gemini)(nil)
)

var geminiDims = map[string]int{
	"gemini-embedding-001": 3072,
	"text-embedding-004":   768,
}

// placeholderKey stands in for an empty API key: genai falls back to the
// GOOGLE_API_KEY and GEMINI_API_KEY variables when given none, and Keel's
// configuration owns the environment. The transport removes it again.
const placeholderKey = "keel-no-key-placeholder"

// NewGemini returns an embedder for a Gemini embedding model, e.g.
// "gemini-embedding-001". It never reads the environment, and the SDK does
// not retry (see Options.Middleware).
func NewGemini(o Options) (*Gemini, error) {
	// batchEmbedContents takes at most 100 requests.
	b, err := newBatcher(o, "gemini", 100, geminiDims[o.Model])
	if err != nil {
		return nil, err
	}
	hc := &http.Client{}
	if o.HTTPClient != nil {
		c := *o.HTTPClient
		hc = &c
	}
	hc.Transport = &captureTransport{base: hc.Transport, stripKey: o.APIKey == ""}
	base, version := gemini.SplitBaseURL(o.BaseURL)
	e := &Gemini{batcher: b, opts: o}
	e.client, err = genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      cmp.Or(o.APIKey, placeholderKey),
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  hc,
		HTTPOptions: genai.HTTPOptions{BaseURL: base, APIVersion: version},
	})
	if err != nil {
		// genai's configuration errors print the whole config, key
		// included: the cause is not kept.
		return nil, &llm.Error{Kind: llm.KindInvalidRequest, Provider: b.provider, Message: "cannot configure the genai client (check the base URL)"}
	}
	return e, nil
}

// Embed returns one vector per text, embedded as documents for retrieval.
func (e *Gemini) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return e.run(ctx, texts, func(ctx context.Context, texts []string) ([][]float32, error) {
		return e.batch(ctx, texts, "RETRIEVAL_DOCUMENT")
	})
}

// EmbedQuery embeds a search query.
func (e *Gemini) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	v, err := e.run(ctx, []string{text}, func(ctx context.Context, texts []string) ([][]float32, error) {
		return e.batch(ctx, texts, "RETRIEVAL_QUERY")
	})
	if err != nil {
		return nil, err
	}
	return v[0], nil
}

func (e *Gemini) batch(ctx context.Context, texts []string, task string) ([][]float32, error) {
	contents := make([]*genai.Content, len(texts))
	for i, t := range texts {
		contents[i] = genai.NewContentFromText(t, genai.RoleUser)
	}
	cfg := &genai.EmbedContentConfig{TaskType: task}
	if e.opts.Dimensions > 0 {
		d := int32(e.opts.Dimensions)
		cfg.OutputDimensionality = &d
	}
	c := &capture{}
	res, err := e.client.Models.EmbedContent(context.WithValue(ctx, captureKey{}, c), e.model, contents, cfg)
	if err != nil {
		return nil, wrapErr(ctx, e.provider, err, c.get())
	}
	out := make([][]float32, len(res.Embeddings))
	for i, emb := range res.Embeddings {
		if emb != nil {
			out[i] = emb.Values
		}
	}
	return out, nil
}

// captureTransport removes the placeholder key and keeps the response
// headers, which genai.APIError does not carry (retry-after, request id).
type captureTransport struct {
	base     http.RoundTripper
	stripKey bool
}

type captureKey struct{}

type capture struct {
	mu     sync.Mutex
	header http.Header
}

func (c *capture) get() http.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.header
}

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.stripKey {
		req = req.Clone(req.Context())
		req.Header.Del("x-goog-api-key")
	}
	base := cmp.Or[http.RoundTripper](t.base, http.DefaultTransport)
	res, err := base.RoundTrip(req)
	if c, ok := req.Context().Value(captureKey{}).(*capture); ok && res != nil {
		c.mu.Lock()
		c.header = res.Header.Clone()
		c.mu.Unlock()
	}
	return res, err
}
