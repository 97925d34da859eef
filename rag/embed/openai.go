package embed

import (
	"cmp"
	"context"
	"net/http"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	kopenai "github.com/keelai/keel/provider/openai"
	"github.com/keelai/keel/rag"
)

// OpenAI embeds with the OpenAI embeddings API (/v1/embeddings) through the
// official SDK, or with any server that speaks it. It is safe for
// concurrent use.
type OpenAI struct {
	*batcher
	svc  openai.EmbeddingService
	opts Options
}

var (
	_ rag.Embedder      = (*OpenAI)(nil)
	_ rag.Fingerprinter = (*OpenAI)(nil)
)

// openAIDims are the default sizes of OpenAI's models, so that Dimensions
// is right before the first call.
var openAIDims = map[string]int{
	"text-embedding-3-small": 1536,
	"text-embedding-3-large": 3072,
	"text-embedding-ada-002": 1536,
}

// NewOpenAI returns an embedder for OpenAI (BaseURL empty) or an
// OpenAI-compatible server. It never reads the environment, and the SDK
// does not retry (see Options.Middleware).
func NewOpenAI(o Options) (*OpenAI, error) {
	// OpenAI accepts 2048 inputs per request (and 300k tokens in all);
	// 256 keeps requests small enough to retry cheaply.
	b, err := newBatcher(o, "openai", 256, openAIDims[o.Model])
	if err != nil {
		return nil, err
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	ro := []option.RequestOption{
		option.WithBaseURL(cmp.Or(o.BaseURL, "https://api.openai.com/v1")),
		option.WithHTTPClient(client),
		option.WithMaxRetries(0),
	}
	if o.APIKey != "" {
		ro = append(ro, option.WithAPIKey(o.APIKey))
	}
	// NewEmbeddingService, unlike openai.NewClient, applies only the
	// options given: nothing comes from OPENAI_API_KEY or OPENAI_BASE_URL.
	return &OpenAI{batcher: b, svc: openai.NewEmbeddingService(ro...), opts: o}, nil
}

// NewOllama returns an embedder for a model served by Ollama, through its
// OpenAI-compatible API. host is an OLLAMA_HOST value ("" means
// 127.0.0.1:11434) and is used when o.BaseURL is empty.
func NewOllama(host string, o Options) (*OpenAI, error) {
	if o.BaseURL == "" {
		o.BaseURL = kopenai.OllamaBaseURL(host)
	}
	o.Provider = cmp.Or(o.Provider, "ollama")
	return NewOpenAI(o)
}

// Embed returns one vector per text.
func (e *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return e.run(ctx, texts, e.batch)
}

func (e *OpenAI) batch(ctx context.Context, texts []string) ([][]float32, error) {
	p := openai.EmbeddingNewParams{
		Model: openai.EmbeddingModel(e.model),
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts},
	}
	if e.opts.Dimensions > 0 {
		p.Dimensions = openai.Int(int64(e.opts.Dimensions))
	}
	res, err := e.svc.New(ctx, p)
	if err != nil {
		return nil, wrapErr(ctx, e.provider, err, nil)
	}
	out := make([][]float32, len(texts))
	for _, d := range res.Data {
		// Answers carry an index; servers may return them in any order.
		if d.Index < 0 || int(d.Index) >= len(out) || out[d.Index] != nil {
			return nil, e.malformed("embedding index %d out of range or repeated", d.Index)
		}
		v := make([]float32, len(d.Embedding))
		for i, x := range d.Embedding {
			v[i] = float32(x)
		}
		out[d.Index] = v
	}
	return out, nil
}
