package agents

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/prompt"
	"github.com/keelai/keel/structured"
)

// Plan is what an Orchestrator's planner returns: the subtasks to hand to
// workers.
type Plan struct {
	Tasks []Subtask `json:"tasks" jsonschema:"the subtasks; each is done independently and at the same time as the others, so each must be self-contained"`
}

// Subtask is one unit of work of a Plan.
type Subtask struct {
	Worker string `json:"worker" jsonschema:"the name of the worker that does this subtask"`
	Task   string `json:"task" jsonschema:"a self-contained instruction for the worker"`
}

// Orchestrator runs the orchestrator–workers pattern: the Planner turns the
// task into a structured Plan, the Workers do its subtasks concurrently
// (each with its own model and tools), and the Synthesizer merges their
// results into one answer. An Orchestrator is configuration only.
type Orchestrator struct {
	// Name names the orchestrator's span ("orchestrate NAME").
	Name string
	// Planner is asked (structured output) for a Plan; the workers' names
	// and descriptions are added to its system prompt.
	Planner *Agent
	// Workers do the subtasks; a subtask names its worker. Names must be
	// unique.
	Workers []*Agent
	// Synthesizer merges the task and the workers' results into the answer.
	Synthesizer *Agent
	// Limit bounds how many subtasks run at once (default 4).
	Limit int
	// MaxTasks bounds the plan's length (default 10); a longer plan is a
	// *PlanError.
	MaxTasks int
	// BestEffort lets the run go on when subtasks fail: the synthesiser is
	// told which failed. Otherwise the first failure cancels the others and
	// ends the run (fail-fast).
	BestEffort bool
	// PlanOptions are passed to structured.Generate for the plan (repairs,
	// mode).
	PlanOptions []structured.Option
	// Tracer makes the spans of the run and of its agents that have no
	// Tracer of their own; nil uses the provider of the span in the context.
	Tracer trace.TracerProvider
}

// Report is the record of an orchestrated run.
type Report struct {
	Plan Plan
	// Results answer the plan's subtasks, in plan order.
	Results []WorkerResult
	// Answer is the synthesiser's answer.
	Answer string
	// Usage holds each agent's usage and cost, by agent name; Total sums
	// them.
	Usage map[string]cost.Total
	Total cost.Total
}

// WorkerResult is a worker's answer to one subtask, or its error.
type WorkerResult struct {
	Subtask Subtask
	Text    string
	Err     error
}

// PlanError is returned when the planner's plan cannot be run: it is empty,
// too long, or names an unknown worker.
type PlanError struct {
	Plan    Plan
	Problem string
}

func (e *PlanError) Error() string { return "orchestrator: unusable plan: " + e.Problem }

// Run plans task, runs the plan and merges the results. The Report is
// returned with the usage so far even when Run fails.
func (o *Orchestrator) Run(ctx context.Context, task string) (_ *Report, err error) {
	workers, err := o.check()
	if err != nil {
		return nil, err
	}
	name := "orchestrate"
	if o.Name != "" {
		name += " " + o.Name
	}
	ctx, span := startSpan(ctx, o.Tracer, name, attribute.String("gen_ai.operation.name", "invoke_agent"))
	meter := NewMeter()
	ctx = WithMeter(ctx, meter)
	rep := &Report{}
	defer func() {
		rep.Usage = ByAgent(meter)
		rep.Total = meter.Report().Total
		span.SetAttributes(
			attribute.Int("keel.plan.tasks", len(rep.Plan.Tasks)),
			attribute.Float64("keel.cost_usd", rep.Total.Cost.Float()))
		endSpan(span, err)
	}()

	plan, err := Generate[Plan](ctx, o.Planner, &llm.Request{
		System:   []llm.Text{{Text: o.plannerInstructions()}},
		Messages: []llm.Message{llm.UserText(task)},
	}, o.PlanOptions...)
	if err != nil {
		return rep, err
	}
	rep.Plan = plan
	if err := o.checkPlan(plan, workers); err != nil {
		return rep, err
	}

	tasks := make([]Task[string], len(plan.Tasks))
	for i, st := range plan.Tasks {
		tasks[i] = func(ctx context.Context) (string, error) { return workers[st.Worker].Ask(ctx, st.Task) }
	}
	fan := FanOut{Name: "workers", Limit: o.Limit, Tracer: o.Tracer}
	if fan.Limit <= 0 {
		fan.Limit = 4
	}
	rep.Results = make([]WorkerResult, len(plan.Tasks))
	for i, st := range plan.Tasks {
		rep.Results[i].Subtask = st
	}
	if o.BestEffort {
		failed := 0
		for i, b := range Settle(ctx, fan, tasks...) {
			rep.Results[i].Text, rep.Results[i].Err = b.Value, b.Err
			if b.Err != nil {
				failed++
			}
		}
		if failed == len(tasks) {
			return rep, fmt.Errorf("orchestrator: every subtask failed: %w", rep.Results[0].Err)
		}
	} else {
		texts, err := All(ctx, fan, tasks...)
		if err != nil {
			return rep, err
		}
		for i, t := range texts {
			rep.Results[i].Text = t
		}
	}

	rep.Answer, err = o.Synthesizer.Ask(ctx, synthesisPrompt(task, rep.Results))
	return rep, err
}

func (o *Orchestrator) check() (map[string]*Agent, error) {
	switch {
	case o.Planner == nil:
		return nil, errors.New("orchestrator: nil Planner")
	case o.Synthesizer == nil:
		return nil, errors.New("orchestrator: nil Synthesizer")
	case len(o.Workers) == 0:
		return nil, errors.New("orchestrator: no Workers")
	}
	byName := make(map[string]*Agent, len(o.Workers))
	for i, w := range o.Workers {
		if w == nil || w.Name == "" {
			return nil, fmt.Errorf("orchestrator: Workers[%d] is nil or has no Name", i)
		}
		if _, dup := byName[w.Name]; dup {
			return nil, fmt.Errorf("orchestrator: Workers[%d]: duplicate worker name %q", i, w.Name)
		}
		byName[w.Name] = w
	}
	return byName, nil
}

func (o *Orchestrator) checkPlan(p Plan, workers map[string]*Agent) error {
	maxTasks := o.MaxTasks
	if maxTasks <= 0 {
		maxTasks = 10
	}
	switch {
	case len(p.Tasks) == 0:
		return &PlanError{Plan: p, Problem: "no subtasks"}
	case len(p.Tasks) > maxTasks:
		return &PlanError{Plan: p, Problem: fmt.Sprintf("%d subtasks, at most %d allowed", len(p.Tasks), maxTasks)}
	}
	for i, st := range p.Tasks {
		if _, ok := workers[st.Worker]; !ok {
			return &PlanError{Plan: p, Problem: fmt.Sprintf("tasks[%d].worker: unknown worker %q", i, st.Worker)}
		}
	}
	return nil
}

func (o *Orchestrator) plannerInstructions() string {
	var b strings.Builder
	b.WriteString("Split the user's task into subtasks and assign each to one of these workers (by name). ")
	b.WriteString("Subtasks run at the same time, so each must be self-contained; a later step merges their results.\n\nWorkers:\n")
	for _, w := range o.Workers {
		fmt.Fprintf(&b, "- %s: %s\n", w.Name, w.Description)
	}
	return b.String()
}

// synthesisPrompt shows the task and the workers' results to the
// synthesiser inside escaped elements: a worker's output (which may quote
// tool output or retrieved text) is data and cannot forge another
// element.
func synthesisPrompt(task string, results []WorkerResult) string {
	var b strings.Builder
	b.WriteString("Merge the workers' results into one answer to the task.\n\n")
	b.WriteString(prompt.Element("task", 0, "", task))
	b.WriteString("\n")
	for i, r := range results {
		text := r.Text
		if r.Err != nil {
			text = "FAILED: " + llm.Redact(r.Err.Error())
		}
		b.WriteString("\n")
		b.WriteString(prompt.Element("subtask", i+1, r.Subtask.Worker, r.Subtask.Task))
		b.WriteString("\n")
		b.WriteString(prompt.Element("result", i+1, r.Subtask.Worker, text))
		b.WriteString("\n")
	}
	return b.String()
}
