package agents_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/agents"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/structured"
	"github.com/keelai/keel/tool"
)

type outline struct {
	Title    string   `json:"title"`
	Sections []string `json:"sections"`
}

func TestPipelineTypesFlow(t *testing.T) {
	planner := &agents.Agent{Name: "planner", Model: llmtest.NewModel("",
		llmtest.Text("```json\n{\"title\":\"Go\",\"sections\":[\"intro\",\"generics\"]}\n```"))}
	// The writer echoes its prompt, so each section's text shows what it got.
	writer := &agents.Agent{Name: "writer", Model: llmtest.NewEcho("")}

	// string → outline → []string → string, each arrow checked by the
	// compiler.
	var toSections agents.Stage[outline, []string] = func(ctx context.Context, o outline) ([]string, error) {
		out := make([]string, len(o.Sections))
		for i, s := range o.Sections {
			out[i] = o.Title + ": " + s
		}
		return out, nil
	}
	join := func(ctx context.Context, parts []string) (string, error) { return strings.Join(parts, " | "), nil }
	p := agents.Then(
		agents.Then(
			agents.Then(agents.GenerateStage[outline](planner), toSections),
			agents.Map(agents.FanOut{}, writer.Stage())),
		agents.Stage[[]string, string](join))

	got, err := p(t.Context(), "write about Go")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Go: intro | Go: generics"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPipelineStopsAtFailingStage(t *testing.T) {
	ran := false
	first := agents.Named("draft", nil, (&agents.Agent{Name: "drafter", Model: llmtest.NewModel("", llmtest.Fail(llm.KindOverloaded))}).Stage())
	second := agents.Stage[string, int](func(ctx context.Context, s string) (int, error) { ran = true; return len(s), nil })
	_, err := agents.Then(first, second)(t.Context(), "x")
	se, ok := errors.AsType[*agents.StageError](err)
	if !ok || se.Stage != "draft" {
		t.Fatalf("err = %v, want *StageError for stage draft", err)
	}
	if k := llm.KindOf(err); k != llm.KindOverloaded {
		t.Errorf("kind = %q, want overloaded (seen through the wrappers)", k)
	}
	if ran {
		t.Error("the stage after a failure ran")
	}
}

func TestGenerateStructuredFailureIsTyped(t *testing.T) {
	a := &agents.Agent{Name: "extractor", Model: llmtest.NewModel("", llmtest.Text("not json"), llmtest.Text("still not"))}
	_, err := agents.Generate[outline](t.Context(), a, &llm.Request{Messages: []llm.Message{llm.UserText("x")}},
		structured.WithRepairs(1))
	if re, ok := errors.AsType[*structured.Error](err); !ok || re.Raw != "still not" {
		t.Errorf("err = %v, want a *structured.Error holding the last raw output", err)
	}
	ae, ok := errors.AsType[*agents.Error](err)
	if !ok || ae.Agent != "extractor" {
		t.Fatalf("err = %v, want *agents.Error naming the agent", err)
	}
	if diff := cmp.Diff(2, len(a.Model.(*llmtest.Model).Requests())); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestUsageRecordedOnStreamAndOnFailure(t *testing.T) {
	meter := agents.NewMeter()
	ctx := agents.WithMeter(t.Context(), meter)

	streamed := &agents.Agent{Name: "streamed", Model: llmtest.NewModel("", llmtest.Text(`{"title":"t","sections":[]}`))}
	if _, err := agents.Generate[outline](ctx, streamed, &llm.Request{Messages: []llm.Message{llm.UserText("x")}}, structured.WithStream()); err != nil {
		t.Fatal(err)
	}
	// A run stopped by its step limit still spent the tokens of its calls.
	looping := &agents.Agent{Name: "looping", MaxSteps: 1, Model: llmtest.NewModel("", llmtest.ToolCall("1", "nope", `{}`))}
	_, err := looping.Ask(ctx, "x")
	if _, ok := errors.AsType[*tool.StopError](err); !ok {
		t.Fatalf("err = %v, want a *tool.StopError inside", err)
	}
	got := agents.ByAgent(meter)
	want := map[string]cost.Total{
		"streamed": {Calls: 1, Usage: llm.Usage{InputTokens: 10, OutputTokens: 1}, Unpriced: 1},
		"looping":  {Calls: 1, Usage: llm.Usage{InputTokens: 10, OutputTokens: 5}, Unpriced: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("usage by agent (-want +got):\n%s", diff)
	}
}
