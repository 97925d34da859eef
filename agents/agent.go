package agents

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/structured"
	"github.com/keelai/keel/tool"
)

// Agent is one named participant of a multi-agent pattern: a model, a
// system prompt and optional tools. An Agent is configuration only; one
// value may run many times at once (in several branches of a fan-out).
type Agent struct {
	// Name identifies the agent in usage reports, spans, errors and an
	// orchestrator's plan; required.
	Name string
	// Description says what the agent is good at; an Orchestrator shows it
	// to its planner.
	Description string
	// Model answers; required.
	Model llm.Model
	// System is the agent's system prompt.
	System string
	// Tools are offered to the model and run by the tool loop.
	Tools *tool.Registry
	// MaxSteps bounds the model calls of one run (tool.Agent's default when
	// zero).
	MaxSteps int
	// MaxTokens, when positive, is each call's output token limit.
	MaxTokens int
	// Prices prices the agent's calls; nil reports usage without cost.
	Prices *cost.Table
	// Tracer makes the agent's spans; nil uses the provider of the span in
	// the context (a no-op when there is none).
	Tracer trace.TracerProvider
}

// Error is returned when an agent fails; it names the agent and wraps the
// cause (a *tool.StopError, an *llm.Error, a *structured.Error), so
// errors.As and llm.KindOf see through it.
type Error struct {
	Agent string
	Err   error
}

func (e *Error) Error() string { return fmt.Sprintf("agent %q: %v", e.Agent, e.Err) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Run runs the agent's tool loop on req, with the agent's system prompt put
// before req's own. It returns the loop's Result; on failure an *Error
// wrapping the loop's *tool.StopError (which still holds the transcript).
// req is not modified.
func (a *Agent) Run(ctx context.Context, req *llm.Request) (*tool.Result, error) {
	var res *tool.Result
	err := a.do(ctx, func(ctx context.Context, m llm.Model) error {
		loop := &tool.Agent{Model: m, Tools: a.Tools, MaxSteps: a.MaxSteps}
		var err error
		res, err = loop.Run(ctx, a.request(req))
		return err
	})
	return res, err
}

// Ask runs the agent on one user message and returns its answer text.
func (a *Agent) Ask(ctx context.Context, prompt string) (string, error) {
	res, err := a.Run(ctx, &llm.Request{Messages: []llm.Message{llm.UserText(prompt)}})
	if err != nil {
		return "", err
	}
	return res.Text(), nil
}

// Stage returns Ask as a pipeline stage.
func (a *Agent) Stage() Stage[string, string] { return a.Ask }

// Generate asks agent a for a value of type T (structured.Generate with the
// agent's model and system prompt), metered and traced as the agent. Tools
// are not used. Failures are an *Error wrapping structured's error.
func Generate[T any](ctx context.Context, a *Agent, req *llm.Request, opts ...structured.Option) (T, error) {
	var v T
	err := a.do(ctx, func(ctx context.Context, m llm.Model) error {
		var err error
		v, err = structured.Generate[T](ctx, m, a.request(req), opts...)
		return err
	})
	return v, err
}

// GenerateStage returns a stage that asks agent a for a T from a prompt.
func GenerateStage[T any](a *Agent, opts ...structured.Option) Stage[string, T] {
	return func(ctx context.Context, prompt string) (T, error) {
		return Generate[T](ctx, a, &llm.Request{Messages: []llm.Message{llm.UserText(prompt)}}, opts...)
	}
}

func (a *Agent) request(req *llm.Request) *llm.Request {
	r := req.Clone()
	if a.System != "" {
		r.System = append([]llm.Text{{Text: a.System}}, r.System...)
	}
	if a.MaxTokens > 0 {
		r.MaxTokens = a.MaxTokens
	}
	r.Tags = maps.Clone(r.Tags)
	if r.Tags == nil {
		r.Tags = map[string]string{}
	}
	r.Tags[TagAgent] = a.Name
	return r
}

// do runs fn inside the agent's span with a model that meters every call.
func (a *Agent) do(ctx context.Context, fn func(context.Context, llm.Model) error) (err error) {
	if a.Model == nil {
		return &Error{Agent: a.Name, Err: errors.New("nil Model")}
	}
	if a.Name == "" {
		return &Error{Err: errors.New("agent without a Name")}
	}
	ctx, span := startSpan(ctx, a.Tracer, "invoke_agent "+a.Name,
		attribute.String("gen_ai.operation.name", "invoke_agent"),
		attribute.String("gen_ai.agent.name", a.Name),
		attribute.String("gen_ai.request.model", a.Model.Name()))
	mt := &metered{next: a.Model, agent: a.Name, prices: a.Prices, meters: metersFrom(ctx)}
	defer func() {
		t := mt.total()
		span.SetAttributes(
			attribute.Int("gen_ai.usage.input_tokens", t.Usage.PromptTokens()),
			attribute.Int("gen_ai.usage.output_tokens", t.Usage.OutputTokens),
			attribute.Int("keel.calls", t.Calls),
			attribute.Float64("keel.cost_usd", t.Cost.Float()))
		endSpan(span, err)
	}()
	if err := fn(ctx, mt.model()); err != nil {
		return &Error{Agent: a.Name, Err: err}
	}
	return nil
}

// metered records each completed model call of one agent run into the
// context's meters and into the run's own total (for its span).
type metered struct {
	next   llm.Model
	agent  string
	prices *cost.Table
	meters []*cost.Meter

	mu  sync.Mutex
	sum cost.Total
}

func (m *metered) record(req *llm.Request, resp *llm.Response) {
	model := resp.Model
	if model == "" {
		model = m.next.Name()
	}
	c, priced := m.prices.Cost(model, resp.Usage, false)
	for _, mt := range m.meters {
		mt.Record(model, req.Tags, resp.Usage, c, priced)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sum.Calls++
	m.sum.Usage = m.sum.Usage.Add(resp.Usage)
	m.sum.Cost += c
	if !priced {
		m.sum.Unpriced++
	}
}

func (m *metered) total() cost.Total {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sum
}

func (m *metered) model() llm.Model {
	return llm.Funcs{
		Next: m.next,
		GenerateFunc: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
			resp, err := m.next.Generate(ctx, req)
			if resp != nil {
				m.record(req, resp)
			}
			return resp, err
		},
		StreamFunc: func(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
			return func(yield func(llm.Event, error) bool) {
				for ev, err := range m.next.Stream(ctx, req) {
					if err == nil && ev.Kind == llm.EventDone && ev.Response != nil {
						m.record(req, ev.Response)
					}
					if !yield(ev, err) {
						return
					}
				}
			}
		},
	}
}
