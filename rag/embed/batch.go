package embed

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/keelai/keel/llm"
)

// Options configures an embedder. Zero values mean defaults.
type Options struct {
	// Model is the provider's model name, e.g. "text-embedding-3-small".
	Model string
	// Provider names the provider in the embedder's `provider/model` name;
	// empty means the constructor's ("openai", "gemini", "voyage",
	// "ollama").
	Provider string
	// APIKey authenticates. Empty sends none (local servers need none).
	APIKey string
	// BaseURL is the API root; empty means the provider's public endpoint.
	BaseURL string
	// Dimensions asks for vectors of this size from models that can shorten
	// theirs (OpenAI text-embedding-3, Gemini, Voyage); 0 means the model's
	// default, known for common models and otherwise learnt from the first
	// response.
	Dimensions int
	// BatchSize is the most texts sent in one request; 0 means the
	// provider's limit or a safe default.
	BatchSize int
	// Concurrency is the most requests in flight for one Embed call; 0
	// means 4.
	Concurrency int
	// HTTPClient sends requests; nil means a client of the embedder's own.
	HTTPClient *http.Client
	// Middleware wraps each batch request. A request is presented to it as
	// a model call (an llm.Model named like the embedder, called with an
	// empty request), so that the same retry and rate-limit middleware that
	// serve models serve embedders: retries have one owner.
	Middleware []llm.Middleware
}

// batchFunc embeds one batch; it returns exactly one vector per text.
type batchFunc func(ctx context.Context, texts []string) ([][]float32, error)

// batcher holds what every embedder shares: its name, dimension, limits and
// middleware.
type batcher struct {
	provider, model string
	batchSize       int
	concurrency     int
	dims            atomic.Int64 // 0 until configured or learnt
	configured      int          // configured or known for the model; 0 when learnt
	middleware      []llm.Middleware
}

func newBatcher(o Options, provider string, maxBatch int, defaultDims int) (*batcher, error) {
	if o.Model == "" {
		return nil, fmt.Errorf("embed: %s: no model", provider)
	}
	if o.Dimensions < 0 || o.BatchSize < 0 || o.Concurrency < 0 {
		return nil, fmt.Errorf("embed: %s: negative Dimensions, BatchSize or Concurrency", provider)
	}
	b := &batcher{
		provider:    cmp.Or(o.Provider, provider),
		model:       o.Model,
		batchSize:   min(cmp.Or(o.BatchSize, maxBatch), maxBatch),
		concurrency: cmp.Or(o.Concurrency, 4),
		middleware:  o.Middleware,
	}
	b.configured = cmp.Or(o.Dimensions, defaultDims)
	b.dims.Store(int64(b.configured))
	return b, nil
}

// Name returns the embedder's `provider/model` name.
func (b *batcher) Name() string { return b.provider + "/" + b.model }

// Dimensions returns the vectors' length: configured, known for the model,
// or learnt from the first response; 0 before that.
func (b *batcher) Dimensions() int { return int(b.dims.Load()) }

// Fingerprint identifies what the vectors depend on: the model and the
// size it was asked for (or, learnt, 0: a model's own size never changes).
// It must be the same in every process, before and after the first call,
// since stores keep it in their content hashes.
func (b *batcher) Fingerprint() string { return fmt.Sprintf("%s@%d", b.Name(), b.configured) }

// configuredDimensions is the size the embedder was configured with or
// knows for its model, 0 when it learns it from its first answer. Unlike
// Dimensions it never changes, so the cache keys vectors by it.
func (b *batcher) configuredDimensions() int { return b.configured }

// run embeds texts in batches, at most b.concurrency at once, each through
// the middleware, and checks what comes back. The first failure cancels
// the batches still running.
func (b *batcher) run(ctx context.Context, texts []string, call batchFunc) ([][]float32, error) {
	for i, t := range texts {
		if t == "" {
			// Every provider refuses empty input, and after the request
			// the error would not say which text it was.
			return nil, &llm.Error{Kind: llm.KindInvalidRequest, Provider: b.provider, Message: fmt.Sprintf("text %d is empty", i)}
		}
	}
	out := make([][]float32, len(texts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.concurrency)
	for lo := 0; lo < len(texts); lo += b.batchSize {
		hi := min(len(texts), lo+b.batchSize)
		g.Go(func() error {
			vecs, err := b.call(gctx, texts[lo:hi], call)
			if err != nil {
				return err
			}
			copy(out[lo:hi], vecs)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// call sends one batch through the middleware and validates the answer.
func (b *batcher) call(ctx context.Context, texts []string, call batchFunc) ([][]float32, error) {
	var vecs [][]float32
	err := asModelCall(ctx, b.Name(), b.middleware, func(ctx context.Context) error {
		v, err := call(ctx, texts)
		vecs = v
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(vecs) != len(texts) {
		return nil, b.malformed("%d vectors for %d texts", len(vecs), len(texts))
	}
	for i, v := range vecs {
		if len(v) == 0 {
			return nil, b.malformed("empty vector for text %d", i)
		}
		want := b.dims.Load()
		if want == 0 {
			// The first vector fixes the size for every later call.
			b.dims.CompareAndSwap(0, int64(len(v)))
			want = b.dims.Load()
		}
		if int64(len(v)) != want {
			return nil, b.malformed("vector of %d dimensions, want %d", len(v), want)
		}
	}
	return vecs, nil
}

// asModelCall runs call as a model call named name through mw, so that the
// retry and rate-limit middleware that serve models serve these requests
// too.
func asModelCall(ctx context.Context, name string, mw []llm.Middleware, call func(context.Context) error) error {
	m := llm.Model(llm.Funcs{
		NameFunc: func() string { return name },
		GenerateFunc: func(ctx context.Context, _ *llm.Request) (*llm.Response, error) {
			if err := call(ctx); err != nil {
				return nil, err
			}
			return &llm.Response{Model: name, StopReason: llm.StopEndTurn}, nil
		},
	})
	if len(mw) > 0 {
		m = llm.Chain(m, mw...)
	}
	_, err := m.Generate(ctx, &llm.Request{})
	return err
}

func (b *batcher) malformed(format string, args ...any) *llm.Error {
	return &llm.Error{Kind: llm.KindServer, Provider: b.provider, Message: "malformed response: " + fmt.Sprintf(format, args...)}
}
