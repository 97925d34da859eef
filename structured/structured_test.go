package structured_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/structured"
)

type weather struct {
	City  string   `json:"city" jsonschema:"the city name"`
	TempC float64  `json:"temp_c"`
	Sky   string   `json:"sky" enum:"clear,cloudy,rain"`
	Notes []string `json:"notes,omitempty"`
}

func ask() *llm.Request {
	return &llm.Request{Messages: []llm.Message{llm.UserText("Weather in Oslo?")}}
}

func TestGenerateRepairsOnceAndSucceeds(t *testing.T) {
	m := llmtest.NewModel("",
		llmtest.Text(`{"city":"Oslo","temp_c":"cold","sky":"snow"}`),
		llmtest.Text("Sure! Here it is:\n```json\n{\"city\":\"Oslo\",\"temp_c\":-3,\"sky\":\"cloudy\"}\n```\nAnything else?"),
	)
	req := ask()
	got, err := structured.Generate[weather](context.Background(), m, req)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(weather{City: "Oslo", TempC: -3, Sky: "cloudy"}, got); diff != "" {
		t.Errorf("value (-want +got):\n%s", diff)
	}
	reqs := m.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d model calls, want 2", len(reqs))
	}
	if reqs[0].Output == nil || reqs[0].Output.Strict || !strings.Contains(string(reqs[0].Output.Schema), `"enum":["clear","cloudy","rain"]`) {
		t.Errorf("first request Output = %+v, want the schema with the enum, not strict (Notes is optional)", reqs[0].Output)
	}
	repair := reqs[1].Messages[len(reqs[1].Messages)-1].Text()
	for _, want := range []string{"/temp_c", "/sky", "clear"} {
		if !strings.Contains(repair, want) {
			t.Errorf("repair prompt %q does not mention %q", repair, want)
		}
	}
	if len(req.Messages) != 1 || req.Output != nil {
		t.Errorf("caller's request was modified: %+v", req)
	}
}

func TestGenerateTypedErrorWhenRepairFails(t *testing.T) {
	m := llmtest.NewModel("",
		llmtest.Text(`{"city":"Oslo"}`),
		llmtest.Text(`not json at all`),
	)
	got, err := structured.Generate[weather](context.Background(), m, ask(), structured.WithRepairs(1))
	var se *structured.Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *structured.Error", err)
	}
	if se.Raw != "not json at all" || se.Attempts != 2 || len(se.Problems) == 0 {
		t.Errorf("error = %+v, want the last raw output after 2 attempts with problems", se)
	}
	if diff := cmp.Diff(weather{}, got); diff != "" {
		t.Errorf("value on failure should be the zero value (-want +got):\n%s", diff)
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name    string
		replies []llmtest.Reply
		opts    []structured.Option
		want    []string
		wantErr string // substring; "" for success
		check   func(t *testing.T, reqs []*llm.Request)
	}{
		{
			name:    "non-object type is wrapped for native modes",
			replies: []llmtest.Reply{llmtest.Text(`{"value":["a","b"]}`)},
			want:    []string{"a", "b"},
			check: func(t *testing.T, reqs []*llm.Request) {
				if !strings.Contains(string(reqs[0].Output.Schema), `"required":["value"]`) {
					t.Errorf("schema %s is not wrapped in an object", reqs[0].Output.Schema)
				}
			},
		},
		{
			name:    "prompt mode puts the schema in the system prompt",
			replies: []llmtest.Reply{llmtest.Text("```\n{\"value\":[\"x\"]}\n```")},
			opts:    []structured.Option{structured.WithMode(structured.Prompt)},
			want:    []string{"x"},
			check: func(t *testing.T, reqs []*llm.Request) {
				if reqs[0].Output != nil {
					t.Error("prompt mode set Request.Output")
				}
				if n := len(reqs[0].System); n != 1 || !strings.Contains(reqs[0].System[0].Text, "JSON Schema") {
					t.Errorf("system = %+v, want the schema instructions", reqs[0].System)
				}
			},
		},
		{
			name:    "refusal is not repaired",
			replies: []llmtest.Reply{{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "I can't"}}, StopReason: llm.StopRefusal}}},
			wantErr: "refusal",
		},
		{
			name:    "model failure is returned as is",
			replies: []llmtest.Reply{llmtest.Fail(llm.KindRateLimited)},
			wantErr: "rate_limited",
		},
		{
			name:    "no repairs",
			replies: []llmtest.Reply{llmtest.Text(`{"value":"nope"}`)},
			opts:    []structured.Option{structured.WithRepairs(0)},
			wantErr: "after 1 attempt",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := llmtest.NewModel("", tt.replies...)
			got, err := structured.Generate[[]string](context.Background(), m, ask(), tt.opts...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
			if tt.check != nil {
				tt.check(t, m.Requests())
			}
		})
	}
}

func TestModelErrorKeepsKind(t *testing.T) {
	m := llmtest.NewModel("", llmtest.Fail(llm.KindAuth))
	_, err := structured.Generate[weather](context.Background(), m, ask())
	if llm.KindOf(err) != llm.KindAuth {
		t.Errorf("KindOf(%v) = %q, want auth", err, llm.KindOf(err))
	}
}
