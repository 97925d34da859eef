// Package timeout bounds a model call's duration.
//
// Used twice in the default stack: outside retry and fallback it bounds the
// whole call, every attempt and wait included; inside retry it bounds each
// attempt, so that a hung connection becomes a retryable timeout instead of
// eating the whole budget of time.
package timeout

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/keelai/keel/llm"
)

// New returns a middleware that cancels a call after d, the stream's whole
// iteration included. The failure is an *llm.Error of kind timeout, which
// retry treats as retryable while the caller's own context is alive. d <= 0
// returns the model unchanged.
func New(d time.Duration) llm.Middleware {
	return func(next llm.Model) llm.Model {
		if d <= 0 {
			return next
		}
		return llm.Funcs{
			Next: next,
			GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
				tctx, cancel := context.WithTimeoutCause(ctx, d, errTimedOut)
				defer cancel()
				resp, err := next.Generate(tctx, req)
				return resp, classify(ctx, tctx, next, d, err)
			},
			StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
				return func(yield func(llm.Event, error) bool) {
					tctx, cancel := context.WithTimeoutCause(ctx, d, errTimedOut)
					defer cancel()
					for ev, err := range next.Stream(tctx, req) {
						if err != nil {
							yield(llm.Event{}, classify(ctx, tctx, next, d, err))
							return
						}
						if !yield(ev, nil) {
							return
						}
					}
				}
			},
		}
	}
}

var errTimedOut = errors.New("keel timeout")

// classify turns a failure caused by this middleware's deadline (and not by
// the caller's context) into a timeout error naming the limit.
func classify(parent, tctx context.Context, m llm.Model, d time.Duration, err error) error {
	if err == nil || parent.Err() != nil || context.Cause(tctx) != errTimedOut {
		return err
	}
	provider, _, _ := llm.SplitName(m.Name())
	return &llm.Error{
		Kind:     llm.KindTimeout,
		Provider: provider,
		Message:  fmt.Sprintf("%s did not answer within %v", m.Name(), d),
		Err:      err,
	}
}
