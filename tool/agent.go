package tool

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
)

// Agent runs the tool loop: call the model, run the tools it asks for, send
// the results back, until the model ends its turn or a limit stops it. An
// Agent is configuration only; one value may run many conversations at once.
type Agent struct {
	// Model answers; required.
	Model llm.Model
	// Tools are offered to the model (added to the request's own Tools) and
	// run when it calls them. nil means no tools.
	Tools *Registry
	// MaxSteps bounds the model calls of one run (default 10).
	MaxSteps int
	// Parallel bounds how many of one turn's tool calls run at once
	// (default 4).
	Parallel int
	// MaxTokens, when positive, stops the run once the tokens used (input,
	// cached and output, all steps) reach it.
	MaxTokens int
	// MaxCost, when positive, stops the run once its cost reaches it; Prices
	// must then be set. Steps on a model without a price count as free.
	MaxCost cost.USD
	// Prices prices each step's usage for events and MaxCost.
	Prices *cost.Table
	// Approve, when set, is asked before each call runs (human in the loop).
	// A non-nil error denies the call: the model gets an error result saying
	// so, with the error's text, and the loop goes on.
	Approve func(ctx context.Context, call llm.ToolCall) error
	// OnStep, when set, observes each completed step. It runs on the loop's
	// goroutine; the Step must not be modified.
	OnStep func(ctx context.Context, s *Step)
}

// Outcome says why a run stopped.
type Outcome string

// Outcomes. Only OutcomeEndTurn is a success; every other outcome comes with
// a *StopError.
const (
	OutcomeEndTurn   Outcome = "end_turn"   // the model finished its answer
	OutcomeStepLimit Outcome = "step_limit" // MaxSteps model calls were made
	OutcomeBudget    Outcome = "budget"     // MaxTokens, MaxCost or a budget middleware stopped it
	OutcomeCanceled  Outcome = "canceled"   // the context was cancelled or its deadline passed
	OutcomeMaxTokens Outcome = "max_tokens" // the answer text was cut by the output token limit
	OutcomeRefusal   Outcome = "refusal"    // the model refused
	OutcomeError     Outcome = "error"      // a model call failed
)

// Step is one model call and the tool calls it asked for.
type Step struct {
	// Index counts steps from 0.
	Index    int
	Response *llm.Response
	// Results answer the response's tool calls, in call order.
	Results []llm.ToolResult
	Usage   llm.Usage
	// Cost is the step's cost; Priced is false when Prices has no price
	// for the model (or Prices is nil).
	Cost   cost.USD
	Priced bool
}

// Result is the record of a run.
type Result struct {
	Outcome Outcome
	// Messages is the transcript: the request's messages followed by every
	// assistant turn and tool-result turn of the run.
	Messages []llm.Message
	Steps    []*Step
	// Usage and Cost sum the steps.
	Usage llm.Usage
	Cost  cost.USD
}

// Text returns the text of the last assistant message.
func (r *Result) Text() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == llm.RoleAssistant {
			return r.Messages[i].Text()
		}
	}
	return ""
}

// ErrStepLimit and ErrBudget are matched (errors.Is) by the *StopError of
// the corresponding outcomes.
var (
	ErrStepLimit = errors.New("agent: step limit reached")
	ErrBudget    = errors.New("agent: budget exhausted")
)

// StopError is returned when a run stops for any reason other than the
// model ending its turn. It carries the run's Result (transcript included)
// and the cause: a context error, a model's *llm.Error, a budget error.
type StopError struct {
	Result *Result
	Err    error
}

func (e *StopError) Error() string {
	return fmt.Sprintf("agent stopped (%s) after %d step(s): %v", e.Result.Outcome, len(e.Result.Steps), e.Err)
}

// Unwrap returns the cause.
func (e *StopError) Unwrap() error { return e.Err }

// EventKind says what an agent Event carries.
type EventKind uint8

// Agent event kinds.
const (
	// EventText carries a delta of the model's answer text (Text).
	EventText EventKind = iota + 1
	// EventToolStart says a tool call is about to run (Call), after
	// approval; a denied call has only an EventToolEnd.
	EventToolStart
	// EventToolEnd carries a finished call (Call) and its result (ToolResult).
	EventToolEnd
	// EventStep carries a completed step (Step), with its usage and cost.
	EventStep
	// EventDone ends a run whose model ended its turn (Result).
	EventDone
)

// Event is one thing that happened during a run.
type Event struct {
	Kind       EventKind
	Step       int
	Text       string
	Call       *llm.ToolCall
	ToolResult *llm.ToolResult
	StepInfo   *Step
	Result     *Result
}

// Run runs the loop with blocking model calls. It returns the Result and a
// nil error when the model ended its turn; otherwise a *StopError holding
// the same Result. req is not modified.
func (a *Agent) Run(ctx context.Context, req *llm.Request) (*Result, error) {
	return a.run(ctx, req, false, func(Event) bool { return true })
}

// Stream runs the loop with streaming model calls and yields its events.
// The last item is an EventDone holding the Result, or a *StopError. Text is
// streamed as it arrives, but whether a turn calls tools is decided from the
// completed message (models often write text before a tool call). Stopping
// the iteration cancels the run and waits for running tools to return.
func (a *Agent) Stream(ctx context.Context, req *llm.Request) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		res, err := a.run(ctx, req, true, func(ev Event) bool { return yield(ev, nil) })
		if errors.Is(err, errStopped) {
			return
		}
		if err != nil {
			yield(Event{}, err)
			return
		}
		yield(Event{Kind: EventDone, Result: res}, nil)
	}
}

// errStopped marks a run abandoned because the consumer stopped iterating.
var errStopped = errors.New("agent: iteration stopped")

func (a *Agent) run(ctx context.Context, req *llm.Request, stream bool, emit func(Event) bool) (*Result, error) {
	if a.Model == nil {
		return nil, errors.New("agent: nil Model")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	maxSteps := a.MaxSteps
	if maxSteps <= 0 {
		maxSteps = 10
	}
	r := req.Clone()
	if a.Tools != nil {
		r.Tools = append(r.Tools, a.Tools.Specs()...)
	}
	res := &Result{Messages: r.Messages}
	stop := func(o Outcome, err error) (*Result, error) {
		res.Outcome = o
		return res, &StopError{Result: res, Err: err}
	}

	for step := 0; ; step++ {
		if err := ctx.Err(); err != nil {
			return stop(OutcomeCanceled, err)
		}
		if step >= maxSteps {
			return stop(OutcomeStepLimit, ErrStepLimit)
		}
		if err := a.overBudget(res); err != nil {
			return stop(OutcomeBudget, err)
		}
		r.Messages = res.Messages
		resp, err := a.call(ctx, r, stream, step, emit)
		if errors.Is(err, errStopped) {
			return res, err
		}
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return stop(OutcomeCanceled, err)
			case errors.Is(err, cost.ErrBudgetExceeded):
				return stop(OutcomeBudget, err)
			}
			return stop(OutcomeError, err)
		}
		s := &Step{Index: step, Response: resp, Usage: resp.Usage}
		if a.Prices != nil {
			s.Cost, s.Priced = a.Prices.Cost(resp.Model, resp.Usage, false)
		}
		if len(resp.Content) > 0 {
			res.Messages = append(res.Messages, resp.Message())
		}
		calls := resp.ToolCalls()
		if len(calls) > 0 {
			results, err := a.runCalls(ctx, step, calls, emit)
			if err != nil {
				return res, err
			}
			s.Results = results
			parts := make([]llm.Part, len(results))
			for i, tr := range results {
				parts[i] = tr
			}
			res.Messages = append(res.Messages, llm.User(parts...))
		}
		res.Steps = append(res.Steps, s)
		res.Usage = res.Usage.Add(s.Usage)
		res.Cost += s.Cost
		if a.OnStep != nil {
			a.OnStep(ctx, s)
		}
		if !emit(Event{Kind: EventStep, Step: step, StepInfo: s}) {
			return res, errStopped
		}
		if len(calls) > 0 {
			// A forced tool choice applies to the first turn only: forcing it
			// again would never let the model answer.
			if r.ToolChoice.Mode == llm.ToolAny || r.ToolChoice.Mode == llm.ToolNamed {
				r.ToolChoice = llm.ToolChoice{}
			}
			continue
		}
		switch resp.StopReason {
		case llm.StopPauseTurn:
			continue // the server paused a long turn; sending it back resumes it
		case llm.StopMaxTokens:
			return stop(OutcomeMaxTokens, fmt.Errorf("agent: answer cut by the output token limit at step %d", step))
		case llm.StopRefusal:
			return stop(OutcomeRefusal, fmt.Errorf("agent: the model refused at step %d", step))
		}
		res.Outcome = OutcomeEndTurn
		return res, nil
	}
}

func (a *Agent) overBudget(res *Result) error {
	if a.MaxTokens > 0 {
		if used := res.Usage.PromptTokens() + res.Usage.OutputTokens; used >= a.MaxTokens {
			return fmt.Errorf("%w: %d tokens used, limit %d", ErrBudget, used, a.MaxTokens)
		}
	}
	if a.MaxCost > 0 && res.Cost >= a.MaxCost {
		return fmt.Errorf("%w: %v spent, limit %v", ErrBudget, res.Cost, a.MaxCost)
	}
	return nil
}

// call makes one model call, forwarding text deltas when streaming.
func (a *Agent) call(ctx context.Context, r *llm.Request, stream bool, step int, emit func(Event) bool) (*llm.Response, error) {
	if !stream {
		return a.Model.Generate(ctx, r)
	}
	for ev, err := range a.Model.Stream(ctx, r) {
		if err != nil {
			return nil, err
		}
		switch ev.Kind {
		case llm.EventText:
			if ev.Text == "" {
				continue
			}
			if !emit(Event{Kind: EventText, Step: step, Text: ev.Text}) {
				return nil, errStopped
			}
		case llm.EventDone:
			return ev.Response, nil
		}
	}
	return nil, &llm.Error{Kind: llm.KindNetwork, Message: llm.ErrIncomplete.Error(), Err: llm.ErrIncomplete}
}

// callEvent is what a worker reports to the loop goroutine, which alone
// emits events (yield must not be called concurrently).
type callEvent struct {
	i       int
	started bool
	result  llm.ToolResult
}

// runCalls runs one turn's calls concurrently, at most Parallel at once,
// and returns their results in call order.
func (a *Agent) runCalls(ctx context.Context, step int, calls []llm.ToolCall, emit func(Event) bool) ([]llm.ToolResult, error) {
	parallel := a.Parallel
	if parallel <= 0 {
		parallel = 4
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	results := make([]llm.ToolResult, len(calls))
	events := make(chan callEvent)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				events <- callEvent{i: i, result: errorResult(c, "not run: "+ctx.Err().Error())}
				return
			}
			defer func() { <-sem }()
			if a.Approve != nil {
				if err := a.Approve(ctx, c); err != nil {
					events <- callEvent{i: i, result: errorResult(c, "the call was denied: "+llm.Redact(err.Error()))}
					return
				}
			}
			events <- callEvent{i: i, started: true}
			events <- callEvent{i: i, result: a.runOne(ctx, c)}
		})
	}
	go func() { wg.Wait(); close(events) }()

	stopped := false
	for ev := range events {
		if stopped {
			continue // drain so that every worker returns
		}
		c := calls[ev.i]
		if ev.started {
			stopped = !emit(Event{Kind: EventToolStart, Step: step, Call: &c})
		} else {
			results[ev.i] = ev.result
			tr := ev.result
			stopped = !emit(Event{Kind: EventToolEnd, Step: step, Call: &c, ToolResult: &tr})
		}
		if stopped {
			cancel()
		}
	}
	if stopped {
		return nil, errStopped
	}
	return results, nil
}

func (a *Agent) runOne(ctx context.Context, c llm.ToolCall) llm.ToolResult {
	if a.Tools == nil {
		return errorResult(c, fmt.Sprintf("unknown tool %q: no tools are available", c.Name))
	}
	return a.Tools.Run(ctx, c)
}

func errorResult(c llm.ToolCall, msg string) llm.ToolResult {
	return llm.ToolResult{CallID: c.ID, Name: c.Name, IsError: true, Content: []llm.Part{llm.Text{Text: msg}}}
}
