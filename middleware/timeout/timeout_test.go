package timeout_test

import (
	"context"
	"iter"
	"testing"
	"time"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/middleware/timeout"
)

// hang blocks until its context ends, as a provider with a dead connection
// does, and reports the context's error.
var hang = llm.Funcs{
	NameFunc: func() string { return "fake/hang" },
	GenerateFunc: func(ctx context.Context, _ *llm.Request) (*llm.Response, error) {
		<-ctx.Done()
		return nil, &llm.Error{Kind: llm.KindOf(ctx.Err()), Err: ctx.Err()}
	},
	StreamFunc: func(ctx context.Context, _ *llm.Request) iter.Seq2[llm.Event, error] {
		return func(yield func(llm.Event, error) bool) {
			if !yield(llm.Event{Kind: llm.EventText, Text: "a"}, nil) {
				return
			}
			<-ctx.Done()
			yield(llm.Event{}, &llm.Error{Kind: llm.KindOf(ctx.Err()), Err: ctx.Err()})
		}
	},
}

func TestTimeoutBecomesRetryableTimeout(t *testing.T) {
	m := timeout.New(time.Millisecond)(hang)
	_, err := m.Generate(t.Context(), &llm.Request{})
	if llm.KindOf(err) != llm.KindTimeout || !llm.IsRetryable(err) {
		t.Errorf("generate err = %v, want a retryable timeout", err)
	}
	_, err = llm.Collect(m.Stream(t.Context(), &llm.Request{}))
	if llm.KindOf(err) != llm.KindTimeout {
		t.Errorf("stream err = %v, want timeout", err)
	}
}

func TestCallerCancellationIsNotATimeout(t *testing.T) {
	m := timeout.New(time.Hour)(hang)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := m.Generate(ctx, &llm.Request{}); llm.KindOf(err) != llm.KindCanceled {
		t.Errorf("err = %v, want canceled", err)
	}
}

func TestFastCallPasses(t *testing.T) {
	m := timeout.New(time.Hour)(llmtest.NewEcho(""))
	req := &llm.Request{Messages: []llm.Message{llm.UserText("hi")}}
	if resp, err := m.Generate(t.Context(), req); err != nil || resp.Text() != "hi" {
		t.Errorf("generate: %v, %v", resp, err)
	}
	if resp, err := llm.Collect(m.Stream(t.Context(), req)); err != nil || resp.Text() != "hi" {
		t.Errorf("stream: %v, %v", resp, err)
	}
	echo := llmtest.NewEcho("")
	if timeout.New(0)(echo) != llm.Model(echo) {
		t.Error("a zero timeout should leave the model alone")
	}
}
