package tool_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/tool"
)

type cityIn struct {
	City string `json:"city" jsonschema:"the city"`
	Unit string `json:"unit,omitempty" enum:"c,f"`
}

func weatherTool(t *testing.T) tool.Tool {
	t.Helper()
	return tool.Must("weather", "Current weather", func(ctx context.Context, in cityIn) (string, error) {
		return "sunny in " + in.City, nil
	})
}

func registry(t *testing.T, tools ...tool.Tool) *tool.Registry {
	t.Helper()
	r, err := tool.NewRegistry(tools)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func calls(cs ...llm.ToolCall) llmtest.Reply {
	parts := make([]llm.Part, len(cs))
	for i, c := range cs {
		parts[i] = c
	}
	return llmtest.Reply{Response: &llm.Response{Content: parts, StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 10, OutputTokens: 5}}}
}

func call(id, name, input string) llm.ToolCall {
	return llm.ToolCall{ID: id, Name: name, Input: []byte(input)}
}

func question() *llm.Request {
	return &llm.Request{Messages: []llm.Message{llm.UserText("go")}}
}

// resultTexts returns "id:text" (with "!" for errors) of the tool results in
// message i of the request.
func resultTexts(msg llm.Message) []string {
	var out []string
	for _, p := range msg.Parts {
		if r, ok := p.(llm.ToolResult); ok {
			mark := ""
			if r.IsError {
				mark = "!"
			}
			var b strings.Builder
			for _, c := range r.Content {
				if t, ok := c.(llm.Text); ok {
					b.WriteString(t.Text)
				}
			}
			out = append(out, mark+r.CallID+":"+b.String())
		}
	}
	return out
}

// TestCallsRunConcurrently uses tools that wait for each other: run one by
// one, the first would wait forever for the others.
func TestCallsRunConcurrently(t *testing.T) {
	const n = 3
	var arrived sync.WaitGroup
	arrived.Add(n)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	meet := tool.Must("meet", "Waits for the others", func(ctx context.Context, in struct {
		Who string `json:"who"`
	}) (string, error) {
		arrived.Done()
		select {
		case <-all:
			return "met " + in.Who, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	m := llmtest.NewModel("",
		calls(call("c1", "meet", `{"who":"ann"}`), call("c2", "meet", `{"who":"bob"}`), call("c3", "meet", `{"who":"cy"}`)),
		llmtest.Text("all met"),
	)
	a := &tool.Agent{Model: m, Tools: registry(t, meet), Parallel: n}
	res, err := a.Run(context.Background(), question())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != tool.OutcomeEndTurn || res.Text() != "all met" {
		t.Errorf("outcome %s, text %q", res.Outcome, res.Text())
	}
	reqs := m.Requests()
	got := resultTexts(reqs[1].Messages[2])
	want := []string{"c1:met ann", "c2:met bob", "c3:met cy"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results not in call order (-want +got):\n%s", diff)
	}
	if len(reqs[0].Tools) != 1 || reqs[0].Tools[0].Name != "meet" {
		t.Errorf("tools offered = %+v", reqs[0].Tools)
	}
}

func TestToolFailuresBecomeErrorResults(t *testing.T) {
	boom := tool.Must("boom", "Panics", func(ctx context.Context, in struct{}) (string, error) { panic("kaboom") })
	fails := tool.Must("fails", "Errors", func(ctx context.Context, in struct{}) (string, error) {
		return "", errors.New("disk full")
	})
	m := llmtest.NewModel("",
		calls(
			call("1", "weather", `{"city":5}`),
			call("2", "weather", `{"city":"Oslo","unit":"k"}`),
			call("3", "weather", `{"city":"Os`),
			call("4", "boom", `{}`),
			call("5", "fails", `{}`),
			call("6", "nope", `{}`),
			call("7", "weather", `{"city":"Oslo"}`),
		),
		llmtest.Text("ok"),
	)
	a := &tool.Agent{Model: m, Tools: registry(t, weatherTool(t), boom, fails)}
	res, err := a.Run(context.Background(), question())
	if err != nil {
		t.Fatal(err)
	}
	got := resultTexts(res.Messages[2])
	wants := []string{
		"!1:", "/city", // wrong type names the field
		"!2:", "'c', 'f'", // enum
		"!3:", "not valid JSON",
		"!4:", "panicked: kaboom",
		"!5:", "disk full",
		"!6:", `unknown tool "nope"`,
		"7:", "sunny in Oslo",
	}
	for i := range len(got) {
		if !strings.HasPrefix(got[i], wants[2*i]) || !strings.Contains(got[i], wants[2*i+1]) {
			t.Errorf("result %d = %q, want prefix %q containing %q", i, got[i], wants[2*i], wants[2*i+1])
		}
	}
	if len(got) != 7 || res.Outcome != tool.OutcomeEndTurn {
		t.Errorf("%d results, outcome %s; want 7 and end_turn", len(got), res.Outcome)
	}
}

func TestStepLimitOutcomeCarriesTranscript(t *testing.T) {
	m := llmtest.NewModel("",
		calls(call("1", "weather", `{"city":"A"}`)),
		calls(call("2", "weather", `{"city":"B"}`)),
		calls(call("3", "weather", `{"city":"C"}`)),
	)
	a := &tool.Agent{Model: m, Tools: registry(t, weatherTool(t)), MaxSteps: 2}
	res, err := a.Run(context.Background(), question())
	var se *tool.StopError
	if !errors.As(err, &se) || !errors.Is(err, tool.ErrStepLimit) {
		t.Fatalf("err = %v, want a *StopError matching ErrStepLimit", err)
	}
	if se.Result != res || res.Outcome != tool.OutcomeStepLimit || len(res.Steps) != 2 {
		t.Fatalf("result = %+v", res)
	}
	var roles []llm.Role
	for _, msg := range res.Messages {
		roles = append(roles, msg.Role)
	}
	want := []llm.Role{"user", "assistant", "user", "assistant", "user"}
	if diff := cmp.Diff(want, roles); diff != "" {
		t.Errorf("transcript roles (-want +got):\n%s", diff)
	}
	if got := resultTexts(res.Messages[4]); len(got) != 1 || got[0] != "2:sunny in B" {
		t.Errorf("last results = %q", got)
	}
	if res.Usage.InputTokens != 20 {
		t.Errorf("usage = %+v, want the sum of 2 steps", res.Usage)
	}
}

func TestDeniedCallIsReportedToTheModel(t *testing.T) {
	ran := false
	rm := tool.Must("rm", "Deletes a file", func(ctx context.Context, in struct {
		Path string `json:"path"`
	}) (string, error) {
		ran = true
		return "deleted", nil
	})
	m := llmtest.NewModel("",
		calls(call("1", "rm", `{"path":"/etc"}`), call("2", "weather", `{"city":"Oslo"}`)),
		llmtest.Text("understood"),
	)
	a := &tool.Agent{
		Model: m, Tools: registry(t, rm, weatherTool(t)),
		Approve: func(ctx context.Context, c llm.ToolCall) error {
			if c.Name == "rm" {
				return errors.New("the user said no")
			}
			return nil
		},
	}
	var events []string
	for ev, err := range a.Stream(context.Background(), question()) {
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case tool.EventToolStart:
			events = append(events, "start "+ev.Call.ID)
		case tool.EventToolEnd:
			events = append(events, fmt.Sprintf("end %s error=%v", ev.Call.ID, ev.ToolResult.IsError))
		}
	}
	if ran {
		t.Error("denied tool ran")
	}
	got := resultTexts(m.Requests()[1].Messages[2])
	if !strings.HasPrefix(got[0], "!1:") || !strings.Contains(got[0], "denied: the user said no") || got[1] != "2:sunny in Oslo" {
		t.Errorf("results = %q", got)
	}
	if !containsAll(events, "end 1 error=true", "start 2", "end 2 error=false") || contains(events, "start 1") {
		t.Errorf("events = %q", events)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func containsAll(s []string, vs ...string) bool {
	for _, v := range vs {
		if !contains(s, v) {
			return false
		}
	}
	return true
}

// TestTextBeforeToolCall streams a turn that writes text and then calls a
// tool: the loop must run the tool, deciding from the completed message.
func TestStreamTextBeforeToolCall(t *testing.T) {
	first := &llm.Response{
		Content: []llm.Part{
			llm.Text{Text: "Let me check. "},
			call("1", "weather", `{"city":"Oslo"}`),
		},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 10, OutputTokens: 7},
	}
	m := llmtest.NewModel("fake/m", llmtest.Reply{Response: first}, llmtest.Text("It is sunny."))
	prices, err := cost.NewTable(map[string]cost.Price{"fake/m": {Input: 1, Output: 2}})
	if err != nil {
		t.Fatal(err)
	}
	a := &tool.Agent{Model: m, Tools: registry(t, weatherTool(t)), Prices: prices}
	var log []string
	var done *tool.Result
	for ev, err := range a.Stream(context.Background(), question()) {
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case tool.EventText:
			log = append(log, "text "+ev.Text)
		case tool.EventToolStart:
			log = append(log, "start "+ev.Call.Name)
		case tool.EventToolEnd:
			log = append(log, "end "+ev.Call.Name)
		case tool.EventStep:
			log = append(log, fmt.Sprintf("step %d in=%d priced=%v", ev.Step, ev.StepInfo.Usage.InputTokens, ev.StepInfo.Priced))
		case tool.EventDone:
			done = ev.Result
		}
	}
	want := []string{
		"text Let ", "text me ", "text check. ",
		"start weather", "end weather", "step 0 in=10 priced=true",
		"text It ", "text is ", "text sunny.", "step 1 in=10 priced=true",
	}
	if diff := cmp.Diff(want, log); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if done == nil || done.Outcome != tool.OutcomeEndTurn || done.Cost <= 0 {
		t.Errorf("done = %+v, want end_turn with a cost", done)
	}
}

func TestOutcomes(t *testing.T) {
	resp := func(stop llm.StopReason, parts ...llm.Part) llmtest.Reply {
		return llmtest.Reply{Response: &llm.Response{Content: parts, StopReason: stop, Usage: llm.Usage{InputTokens: 10, OutputTokens: 10}}}
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		agent   tool.Agent
		replies []llmtest.Reply
		want    tool.Outcome
		wantIs  error
		calls   int
	}{
		{name: "pause_turn is resumed", replies: []llmtest.Reply{resp(llm.StopPauseTurn, llm.Text{Text: "working"}), llmtest.Text("done")}, want: tool.OutcomeEndTurn, calls: 2},
		{name: "max_tokens in text", replies: []llmtest.Reply{resp(llm.StopMaxTokens, llm.Text{Text: "cut"})}, want: tool.OutcomeMaxTokens, calls: 1},
		{name: "max_tokens in a tool call goes on", replies: []llmtest.Reply{resp(llm.StopMaxTokens, call("1", "weather", `{"ci`)), llmtest.Text("sorry")}, want: tool.OutcomeEndTurn, calls: 2},
		{name: "refusal", replies: []llmtest.Reply{resp(llm.StopRefusal)}, want: tool.OutcomeRefusal, calls: 1},
		{name: "token budget", agent: tool.Agent{MaxTokens: 20}, replies: []llmtest.Reply{calls(call("1", "weather", `{"city":"A"}`)), calls(call("2", "weather", `{"city":"A"}`))}, want: tool.OutcomeBudget, wantIs: tool.ErrBudget, calls: 2},
		{name: "budget middleware", replies: []llmtest.Reply{{Err: &cost.ExceededError{}}}, want: tool.OutcomeBudget, wantIs: cost.ErrBudgetExceeded, calls: 1},
		{name: "model error", replies: []llmtest.Reply{llmtest.Fail(llm.KindAuth)}, want: tool.OutcomeError, calls: 1},
		{name: "canceled", ctx: canceled, want: tool.OutcomeCanceled, wantIs: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			m := llmtest.NewModel("", tt.replies...)
			a := tt.agent
			a.Model, a.Tools = m, registry(t, weatherTool(t))
			res, err := a.Run(ctx, question())
			if res.Outcome != tt.want {
				t.Errorf("outcome = %s (err %v), want %s", res.Outcome, err, tt.want)
			}
			if (err == nil) != (tt.want == tool.OutcomeEndTurn) {
				t.Errorf("err = %v for outcome %s", err, res.Outcome)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want one matching %v", err, tt.wantIs)
			}
			if got := len(m.Requests()); got != tt.calls {
				t.Errorf("%d model calls, want %d", got, tt.calls)
			}
		})
	}
}

func TestForcedToolIsForcedOnce(t *testing.T) {
	m := llmtest.NewModel("", calls(call("1", "weather", `{"city":"A"}`)), llmtest.Text("done"))
	req := question()
	req.ToolChoice = llm.ToolChoice{Mode: llm.ToolNamed, Name: "weather"}
	a := &tool.Agent{Model: m, Tools: registry(t, weatherTool(t))}
	if _, err := a.Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	reqs := m.Requests()
	if reqs[0].ToolChoice.Name != "weather" || reqs[1].ToolChoice != (llm.ToolChoice{}) {
		t.Errorf("tool choices = %+v, %+v; want forced then auto", reqs[0].ToolChoice, reqs[1].ToolChoice)
	}
	if req.ToolChoice.Name != "weather" || len(req.Messages) != 1 || len(req.Tools) != 0 {
		t.Errorf("caller's request was modified: %+v", req)
	}
}

// TestStopIterationStopsTools breaks out of the stream while a tool waits
// for its context: the stream must cancel it and return.
func TestStopIterationStopsTools(t *testing.T) {
	stopped := make(chan struct{})
	wait := tool.Must("wait", "Waits", func(ctx context.Context, in struct{}) (string, error) {
		<-ctx.Done()
		close(stopped)
		return "", ctx.Err()
	})
	m := llmtest.NewModel("", calls(call("1", "wait", `{}`)))
	a := &tool.Agent{Model: m, Tools: registry(t, wait)}
	for ev, err := range a.Stream(context.Background(), question()) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == tool.EventToolStart {
			break
		}
	}
	select {
	case <-stopped:
	default:
		t.Error("the stream returned while its tool was still running")
	}
}
