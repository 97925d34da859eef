package agents_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/keelai/keel/agents"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/tool"
)

func prices(t *testing.T) *cost.Table {
	t.Helper()
	tab, err := cost.NewTable(map[string]cost.Price{
		"fake/big":   {Input: 10, Output: 30},
		"fake/small": {Input: 1, Output: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func usage(in, out int) llmtest.Reply {
	return llmtest.Reply{Response: &llm.Response{
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: in, OutputTokens: out},
	}}
}

// reply is a text reply with the given usage.
func reply(text string, in, out int) llmtest.Reply {
	r := usage(in, out)
	r.Response.Content = []llm.Part{llm.Text{Text: text}}
	return r
}

func toolReply(id, name, input string, in, out int) llmtest.Reply {
	r := usage(in, out)
	r.Response.Content = []llm.Part{llm.ToolCall{ID: id, Name: name, Input: []byte(input)}}
	r.Response.StopReason = llm.StopToolUse
	return r
}

type orchestraFakes struct {
	planner, research, coder, synth *llmtest.Model
	o                               *agents.Orchestrator
}

func newOrchestra(t *testing.T, plan string) orchestraFakes {
	t.Helper()
	tab := prices(t)
	f := orchestraFakes{
		planner:  llmtest.NewModel("fake/big", reply(plan, 1000, 100)),
		research: llmtest.NewModel("fake/small", reply("Go 1.23 added range-over-func <iterators>.", 200, 20)),
		coder: llmtest.NewModel("fake/small",
			toolReply("c1", "run", `{"code":"1+1"}`, 300, 30),
			reply("The snippet prints 2.", 400, 40)),
		synth: llmtest.NewModel("fake/big", reply("Merged answer.", 2000, 200)),
	}
	run := tool.Must("run", "Run code", func(ctx context.Context, in struct {
		Code string `json:"code"`
	}) (string, error) {
		return "2", nil
	})
	tools, err := tool.NewRegistry([]tool.Tool{run})
	if err != nil {
		t.Fatal(err)
	}
	f.o = &agents.Orchestrator{
		Name:    "explain",
		Planner: &agents.Agent{Name: "planner", Model: f.planner, Prices: tab},
		Workers: []*agents.Agent{
			{Name: "researcher", Description: "finds facts", Model: f.research, Prices: tab},
			{Name: "coder", Description: "writes and runs code", Model: f.coder, Tools: tools, Prices: tab},
		},
		Synthesizer: &agents.Agent{Name: "synthesizer", System: "Merge.", Model: f.synth, Prices: tab},
	}
	return f
}

const twoTasks = `{"tasks":[{"worker":"researcher","task":"What did Go 1.23 add?"},{"worker":"coder","task":"Run 1+1"}]}`

func TestOrchestratorEndToEnd(t *testing.T) {
	f := newOrchestra(t, twoTasks)
	rep, err := f.o.Run(t.Context(), "Explain Go iterators with an example")
	if err != nil {
		t.Fatal(err)
	}
	wantPlan := agents.Plan{Tasks: []agents.Subtask{
		{Worker: "researcher", Task: "What did Go 1.23 add?"},
		{Worker: "coder", Task: "Run 1+1"},
	}}
	if diff := cmp.Diff(wantPlan, rep.Plan); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	var texts []string
	for _, r := range rep.Results {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Subtask.Worker, r.Err)
		}
		texts = append(texts, r.Text)
	}
	if diff := cmp.Diff([]string{"Go 1.23 added range-over-func <iterators>.", "The snippet prints 2."}, texts); diff != "" {
		t.Errorf("worker results (-want +got):\n%s", diff)
	}
	if rep.Answer != "Merged answer." {
		t.Errorf("answer = %q", rep.Answer)
	}

	// Each agent's usage and cost separately; the coder made two calls
	// (tool call, then answer).
	want := map[string]cost.Total{
		"planner":     {Calls: 1, Usage: llm.Usage{InputTokens: 1000, OutputTokens: 100}, Cost: cost.Dollars(1000*10e-6 + 100*30e-6)},
		"researcher":  {Calls: 1, Usage: llm.Usage{InputTokens: 200, OutputTokens: 20}, Cost: cost.Dollars(200*1e-6 + 20*2e-6)},
		"coder":       {Calls: 2, Usage: llm.Usage{InputTokens: 700, OutputTokens: 70}, Cost: cost.Dollars(700*1e-6 + 70*2e-6)},
		"synthesizer": {Calls: 1, Usage: llm.Usage{InputTokens: 2000, OutputTokens: 200}, Cost: cost.Dollars(2000*10e-6 + 200*30e-6)},
	}
	if diff := cmp.Diff(want, rep.Usage); diff != "" {
		t.Errorf("usage by agent (-want +got):\n%s", diff)
	}
	var sum cost.Total
	for _, u := range want {
		sum.Calls += u.Calls
		sum.Usage = sum.Usage.Add(u.Usage)
		sum.Cost += u.Cost
	}
	if diff := cmp.Diff(sum, rep.Total); diff != "" {
		t.Errorf("total (-want +got):\n%s", diff)
	}

	// The planner saw the workers; the synthesiser saw the escaped results
	// and its own system prompt; each worker got its subtask.
	if sys := f.planner.Requests()[0].System; len(sys) == 0 || !strings.Contains(sys[len(sys)-1].Text, "- coder: writes and runs code") {
		t.Errorf("planner system prompt does not list the workers: %+v", sys)
	}
	if got := f.research.Requests()[0].Messages[0].Text(); got != "What did Go 1.23 add?" {
		t.Errorf("researcher got %q", got)
	}
	sreq := f.synth.Requests()[0]
	if sreq.System[0].Text != "Merge." {
		t.Errorf("synthesiser system = %+v", sreq.System)
	}
	msg := sreq.Messages[0].Text()
	for _, s := range []string{`<result index="1" source="researcher">`, "range-over-func &lt;iterators&gt;.", `<result index="2" source="coder">`} {
		if !strings.Contains(msg, s) {
			t.Errorf("synthesis prompt lacks %q:\n%s", s, msg)
		}
	}
	if got := sreq.Tags[agents.TagAgent]; got != "synthesizer" {
		t.Errorf("request tag %s = %q", agents.TagAgent, got)
	}
}

func TestOrchestratorSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	f := newOrchestra(t, twoTasks)
	f.o.Tracer = tp // the agents have no Tracer: they inherit it through the context
	if _, err := f.o.Run(t.Context(), "task"); err != nil {
		t.Fatal(err)
	}
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		byName[s.Name()] = s
	}
	parents := map[string]string{
		"invoke_agent planner":     "orchestrate explain",
		"fanout workers":           "orchestrate explain",
		"branch 0":                 "fanout workers",
		"branch 1":                 "fanout workers",
		"invoke_agent synthesizer": "orchestrate explain",
	}
	for child, parent := range parents {
		c, p := byName[child], byName[parent]
		if c == nil || p == nil {
			t.Errorf("missing span %q or %q; have %v", child, parent, names(rec.Ended()))
			continue
		}
		if c.Parent().SpanID() != p.SpanContext().SpanID() {
			t.Errorf("span %q is not a child of %q", child, parent)
		}
	}
	// One agent span per worker run, each under its branch.
	for _, w := range []string{"invoke_agent researcher", "invoke_agent coder"} {
		s := byName[w]
		if s == nil {
			t.Errorf("missing span %q", w)
			continue
		}
		pn := ""
		for _, b := range rec.Ended() {
			if b.SpanContext().SpanID() == s.Parent().SpanID() {
				pn = b.Name()
			}
		}
		if !strings.HasPrefix(pn, "branch ") {
			t.Errorf("span %q has parent %q, want a branch", w, pn)
		}
	}
	attrs := map[string]any{}
	for _, kv := range byName["invoke_agent coder"].Attributes() {
		attrs[string(kv.Key)] = kv.Value.AsInterface()
	}
	want := map[string]any{
		"gen_ai.operation.name":      "invoke_agent",
		"gen_ai.agent.name":          "coder",
		"gen_ai.request.model":       "fake/small",
		"gen_ai.usage.input_tokens":  int64(700),
		"gen_ai.usage.output_tokens": int64(70),
		"keel.calls":                 int64(2),
		"keel.cost_usd":              cost.Dollars(700*1e-6 + 70*2e-6).Float(),
	}
	if diff := cmp.Diff(want, attrs); diff != "" {
		t.Errorf("coder span attributes (-want +got):\n%s", diff)
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

func TestOrchestratorBadPlans(t *testing.T) {
	tests := []struct {
		name, plan, problem string
	}{
		{"unknown worker", `{"tasks":[{"worker":"poet","task":"x"}]}`, `tasks[0].worker: unknown worker "poet"`},
		{"empty", `{"tasks":[]}`, "no subtasks"},
		{"too long", `{"tasks":[` + strings.Repeat(`{"worker":"coder","task":"x"},`, 10) + `{"worker":"coder","task":"x"}]}`, "11 subtasks, at most 10 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newOrchestra(t, tt.plan)
			rep, err := f.o.Run(t.Context(), "task")
			pe, ok := errors.AsType[*agents.PlanError](err)
			if !ok {
				t.Fatalf("err = %v, want *PlanError", err)
			}
			if pe.Problem != tt.problem {
				t.Errorf("problem = %q, want %q", pe.Problem, tt.problem)
			}
			if len(f.research.Requests())+len(f.coder.Requests())+len(f.synth.Requests()) != 0 {
				t.Error("workers or synthesiser ran on an unusable plan")
			}
			if rep == nil || rep.Usage["planner"].Calls != 1 {
				t.Errorf("report does not carry the planner's usage: %+v", rep)
			}
		})
	}
}

func TestOrchestratorWorkerFailure(t *testing.T) {
	t.Run("fail fast", func(t *testing.T) {
		f := newOrchestra(t, twoTasks)
		f.o.Limit = 1 // researcher runs first and fails; the coder never starts
		f.o.Workers[0].Model = llmtest.NewModel("fake/small", llmtest.Fail(llm.KindServer))
		_, err := f.o.Run(t.Context(), "task")
		if ae, ok := errors.AsType[*agents.Error](err); !ok || ae.Agent != "researcher" || llm.KindOf(err) != llm.KindServer {
			t.Fatalf("err = %v, want the researcher's server error", err)
		}
		if n := len(f.coder.Requests()) + len(f.synth.Requests()); n != 0 {
			t.Errorf("%d calls after the failure", n)
		}
	})
	t.Run("best effort", func(t *testing.T) {
		f := newOrchestra(t, twoTasks)
		f.o.BestEffort = true
		f.o.Workers[0].Model = llmtest.NewModel("fake/small", llmtest.Fail(llm.KindServer))
		rep, err := f.o.Run(t.Context(), "task")
		if err != nil {
			t.Fatal(err)
		}
		if rep.Results[0].Err == nil || rep.Results[1].Text != "The snippet prints 2." {
			t.Errorf("results = %+v", rep.Results)
		}
		msg := f.synth.Requests()[0].Messages[0].Text()
		if !strings.Contains(msg, "FAILED: ") {
			t.Errorf("synthesiser not told of the failure:\n%s", msg)
		}
	})
}

func TestMeterInContextSeesNestedRuns(t *testing.T) {
	outer := agents.NewMeter()
	ctx := agents.WithMeter(t.Context(), outer)
	f := newOrchestra(t, twoTasks)
	rep, err := f.o.Run(ctx, "task")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep.Usage, agents.ByAgent(outer)); diff != "" {
		t.Errorf("caller's meter differs from the report (-report +meter):\n%s", diff)
	}
}
