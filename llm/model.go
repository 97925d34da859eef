package llm

import (
	"context"
	"iter"
)

// Model is a language model bound to one `provider/model` name. Every
// provider adapter and every middleware implements it.
//
// Implementations must be safe for concurrent use and must not modify the
// request.
type Model interface {
	// Name returns the model's `provider/model` name.
	Name() string
	// Generate sends the request and waits for the complete response.
	Generate(ctx context.Context, req *Request) (*Response, error)
	// Stream sends the request and yields events as they arrive. The last
	// event of a successful stream is an EventDone carrying the accumulated
	// Response; a failed stream yields one error and stops. Stopping the
	// loop early or cancelling ctx stops the upstream request.
	Stream(ctx context.Context, req *Request) iter.Seq2[Event, error]
}

// Middleware decorates a Model: retries, fallbacks, rate limits, caching,
// cost metering, logging, tracing and guards are each one.
type Middleware func(Model) Model

// Chain wraps m in the middleware, the first one outermost: Chain(m, a, b)
// is a(b(m)), so a request passes through a, then b, then reaches m.
func Chain(m Model, mw ...Middleware) Model {
	for i := len(mw) - 1; i >= 0; i-- {
		m = mw[i](m)
	}
	return m
}

// Funcs builds a Model from functions, for middleware and tests that change
// one method and delegate the rest. A nil function delegates to Next.
type Funcs struct {
	Next         Model
	NameFunc     func() string
	GenerateFunc func(ctx context.Context, req *Request) (*Response, error)
	StreamFunc   func(ctx context.Context, req *Request) iter.Seq2[Event, error]
}

// Name implements Model.
func (f Funcs) Name() string {
	if f.NameFunc != nil {
		return f.NameFunc()
	}
	return f.Next.Name()
}

// Generate implements Model.
func (f Funcs) Generate(ctx context.Context, req *Request) (*Response, error) {
	if f.GenerateFunc != nil {
		return f.GenerateFunc(ctx, req)
	}
	return f.Next.Generate(ctx, req)
}

// Stream implements Model.
func (f Funcs) Stream(ctx context.Context, req *Request) iter.Seq2[Event, error] {
	if f.StreamFunc != nil {
		return f.StreamFunc(ctx, req)
	}
	return f.Next.Stream(ctx, req)
}

// TokenCounter is implemented by models that can count a request's input
// tokens exactly (Anthropic's count_tokens endpoint, Gemini's countTokens).
type TokenCounter interface {
	CountTokens(ctx context.Context, req *Request) (int, error)
}
