package llm_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strings"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/provider/openai"
)

// A blocking call: send a request, get the whole response. The model here
// is llmtest's scripted fake; a real one comes from provider.Open.
func Example() {
	ctx := context.Background()
	var m llm.Model = llmtest.NewModel("fake/model", llmtest.Text("Sunlight scatters off air molecules."))

	resp, err := m.Generate(ctx, &llm.Request{
		System:   []llm.Text{{Text: "Answer in one sentence."}},
		Messages: []llm.Message{llm.UserText("Why is the sky blue?")},
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(resp.Text())
	fmt.Println(resp.Model, resp.StopReason)
	// Output:
	// Sunlight scatters off air molecules.
	// fake/model end_turn
}

// Streaming: range over the events; text arrives in deltas, and the last
// event carries the accumulated response.
func ExampleModel_stream() {
	ctx := context.Background()
	m := llmtest.NewModel("fake/model", llmtest.Text("Rayleigh scattering favours short wavelengths."))

	req := &llm.Request{Messages: []llm.Message{llm.UserText("Why is the sky blue?")}}
	for ev, err := range m.Stream(ctx, req) {
		if err != nil {
			fmt.Println("\nerror:", err)
			return
		}
		switch ev.Kind {
		case llm.EventText:
			fmt.Printf("[%s]", ev.Text)
		case llm.EventDone:
			fmt.Println()
			fmt.Println(ev.Response.Text())
			fmt.Println(ev.Response.StopReason, ev.Response.Usage.OutputTokens, "output tokens")
		}
	}
	// Output:
	// [Rayleigh ][scattering ][favours ][short ][wavelengths.]
	// Rayleigh scattering favours short wavelengths.
	// end_turn 5 output tokens
}

// Collect drains a stream into its final response, and reports a stream
// that ended without its final event as an error, never as a short answer.
func ExampleCollect() {
	ctx := context.Background()
	m := llmtest.NewModel("fake/model", llmtest.Text("All of it."))
	resp, err := llm.Collect(m.Stream(ctx, &llm.Request{Messages: []llm.Message{llm.UserText("How much?")}}))
	fmt.Println(resp.Text(), err)

	// A stream cut after one delta, as a dropped connection looks.
	cut := func(yield func(llm.Event, error) bool) {
		yield(llm.Event{Kind: llm.EventText, Text: "All of"}, nil)
	}
	_, err = llm.Collect(iter.Seq2[llm.Event, error](cut))
	fmt.Println(llm.KindOf(err), errors.Is(err, llm.ErrIncomplete))
	// Output:
	// All of it. <nil>
	// network true
}

// Cancelling the context stops a stream: the loop gets one error of kind
// canceled, and (with a real provider) the upstream request is closed.
func ExampleModel_cancel() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := llmtest.NewModel("fake/model", llmtest.Text("one two three four five"))

	var got strings.Builder
	for ev, err := range m.Stream(ctx, &llm.Request{Messages: []llm.Message{llm.UserText("Count.")}}) {
		if err != nil {
			fmt.Printf("stopped after %q: %v\n", got.String(), llm.KindOf(err))
			break
		}
		got.WriteString(ev.Text)
		if got.Len() >= len("one two ") {
			cancel() // the user pressed Ctrl-C, the client went away, ...
		}
	}
	// Output:
	// stopped after "one two ": canceled
}

// Every model failure is an *llm.Error: branch on its Kind, ask whether
// it is worth retrying, and honour the provider's retry-after. Here the
// OpenAI adapter talks to a wire emulator that answers 429.
func ExampleError() {
	ctx := context.Background()
	srv := openaitest.Start()
	defer srv.Close()
	srv.Enqueue(llmtest.WireReply{Fault: llmtest.Fault{
		Status: http.StatusTooManyRequests,
		Header: http.Header{"Retry-After": {"20"}},
	}})
	m := openai.New(openai.Options{APIKey: "sk-test", BaseURL: srv.URL}).Model("gpt-4.1-mini")

	_, err := m.Generate(ctx, &llm.Request{Messages: []llm.Message{llm.UserText("Hi")}})
	var e *llm.Error
	if errors.As(err, &e) {
		fmt.Println("kind:", e.Kind)
		fmt.Println("status:", e.Status)
		fmt.Println("retryable:", e.Retryable())
		fmt.Println("retry after:", e.RetryAfter)
	}
	// Output:
	// kind: rate_limited
	// status: 429
	// retryable: true
	// retry after: 20s
}

// KindOf and IsRetryable read an error without errors.As, whatever wraps it.
func ExampleKindOf() {
	ctx := context.Background()
	m := llmtest.NewModel("fake/model", llmtest.Fail(llm.KindOverloaded), llmtest.Fail(llm.KindInvalidRequest))
	req := &llm.Request{Messages: []llm.Message{llm.UserText("Hi")}}

	for range 2 {
		_, err := m.Generate(ctx, req)
		err = fmt.Errorf("summarising the ticket: %w", err)
		fmt.Println(llm.KindOf(err), llm.IsRetryable(err))
	}
	fmt.Println(llm.KindOf(context.DeadlineExceeded))
	// Output:
	// overloaded true
	// invalid_request false
	// timeout
}

// Middleware is a func(Model) Model. This one tags every request; Chain
// composes several, the first one outermost.
func ExampleChain() {
	tag := func(key, value string) llm.Middleware {
		return func(next llm.Model) llm.Model {
			return llm.Funcs{
				Next: next,
				GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
					req = req.Clone() // never modify the caller's request
					if req.Tags == nil {
						req.Tags = map[string]string{}
					}
					req.Tags[key] = value
					return next.Generate(ctx, req)
				},
			}
		}
	}
	fake := llmtest.NewEcho("fake/echo")
	m := llm.Chain(fake, tag("app", "support"), tag("prompt", "triage@3"))

	resp, _ := m.Generate(context.Background(), &llm.Request{Messages: []llm.Message{llm.UserText("hello")}})
	fmt.Println(resp.Text(), fake.Requests()[0].Tags)
	// Output:
	// hello map[app:support prompt:triage@3]
}
