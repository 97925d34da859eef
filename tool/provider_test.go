package tool_test

import (
	"context"
	"strings"
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/llm/llmtest/geminitest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/provider/anthropic"
	"github.com/keelai/keel/provider/gemini"
	"github.com/keelai/keel/provider/openai"
	"github.com/keelai/keel/tool"
)

const fakeKey = "test-key-not-secret"

// emulated is a provider model wired to its wire emulator.
type emulated struct {
	name     string
	m        llm.Model
	enqueue  func(...llmtest.WireReply)
	requests func() []llmtest.Recorded
}

func emulators(t *testing.T) []emulated {
	a := anthropictest.NewServer(t)
	o := openaitest.NewServer(t)
	g := geminitest.NewServer(t)
	return []emulated{
		{"anthropic", anthropic.New(anthropic.Options{APIKey: fakeKey, BaseURL: a.URL}).Model("claude-sonnet-4-6"), a.Enqueue, a.Requests},
		{"openai", openai.New(openai.Options{APIKey: fakeKey, BaseURL: o.URL}).Model("gpt-4.1-mini"), o.Enqueue, o.Requests},
		{"gemini", gemini.New(gemini.Options{APIKey: fakeKey, BaseURL: g.URL}).Model("gemini-2.5-flash"), g.Enqueue, g.Requests},
	}
}

// TestToolRoundTripThroughProviders runs the agent against each provider's
// wire emulator, blocking and streamed: the model writes text, calls the
// tool, gets its result back and answers.
func TestToolRoundTripThroughProviders(t *testing.T) {
	for _, e := range emulators(t) {
		for _, streamed := range []bool{false, true} {
			name := e.name
			if streamed {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				before := len(e.requests())
				e.enqueue(
					llmtest.WireReply{Response: &llm.Response{
						Content: []llm.Part{
							llm.Text{Text: "Checking. "},
							llm.ToolCall{ID: "call_1", Name: "weather", Input: []byte(`{"city":"Oslo"}`)},
						},
						StopReason: llm.StopToolUse,
						Usage:      llm.Usage{InputTokens: 20, OutputTokens: 9},
					}},
					llmtest.WireReply{Response: &llm.Response{
						Content:    []llm.Part{llm.Text{Text: "Sunny in Oslo."}},
						StopReason: llm.StopEndTurn,
						Usage:      llm.Usage{InputTokens: 40, OutputTokens: 4},
					}},
				)
				a := &tool.Agent{Model: e.m, Tools: registry(t, weatherTool(t))}
				req := &llm.Request{Messages: []llm.Message{llm.UserText("Weather in Oslo?")}, MaxTokens: 256}
				var res *tool.Result
				var err error
				if streamed {
					for ev, serr := range a.Stream(context.Background(), req) {
						if serr != nil {
							err = serr
							break
						}
						if ev.Kind == tool.EventDone {
							res = ev.Result
						}
					}
				} else {
					res, err = a.Run(context.Background(), req)
				}
				if err != nil {
					t.Fatal(err)
				}
				if res.Outcome != tool.OutcomeEndTurn || res.Text() != "Sunny in Oslo." || len(res.Steps) != 2 {
					t.Fatalf("outcome %s, text %q, %d steps", res.Outcome, res.Text(), len(res.Steps))
				}
				if got := res.Steps[0].Results; len(got) != 1 || got[0].IsError {
					t.Fatalf("tool results = %+v", got)
				}
				reqs := e.requests()[before:]
				if len(reqs) != 2 {
					t.Fatalf("%d requests, want 2", len(reqs))
				}
				body := string(reqs[1].Body)
				for _, want := range []string{"sunny in Oslo", "weather"} {
					if !strings.Contains(body, want) {
						t.Errorf("second request does not carry %q: %s", want, body)
					}
				}
				if strings.Contains(string(reqs[0].Body), fakeKey) {
					t.Error("the API key leaked into a request body")
				}
			})
		}
	}
}
