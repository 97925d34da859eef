package cachepolicy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/keelai/keel/cachepolicy"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/provider/anthropic"
)

var (
	longSystem = strings.Repeat("You are a careful assistant for the accounts team. ", 150) // ~1,500 tokens
	tools      = []llm.Tool{{Name: "lookup", Description: strings.Repeat("Look an invoice up by its number. ", 20), InputSchema: []byte(`{"type":"object"}`)}}
)

// The planner's breakpoints arrive on the wire, through the Anthropic
// adapter and the official SDK, at the emulator.
func TestBreakpointsOnTheWire(t *testing.T) {
	srv := anthropictest.NewServer(t)
	srv.Enqueue(llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "ok"}}, StopReason: llm.StopEndTurn}})
	claude := anthropic.New(anthropic.Options{APIKey: "sk-ant-test-0123456789", BaseURL: srv.URL}).Model("claude-sonnet-4-6")
	m := llm.Chain(claude, cachepolicy.Middleware(cachepolicy.Options{TTL: llm.CacheTTL1h}))
	req := &llm.Request{
		System: []llm.Text{{Text: longSystem}},
		Tools:  tools,
		Messages: []llm.Message{
			llm.UserText("first question"), llm.AssistantText("first answer"),
			llm.UserText("second question"),
		},
	}
	if _, err := m.Generate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if hasMark(req) {
		t.Error("the caller's request was modified")
	}
	var body struct {
		Tools    []map[string]any `json:"tools"`
		System   []map[string]any `json:"system"`
		Messages []struct {
			Content []map[string]any `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(srv.Requests()[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	want1h := map[string]any{"type": "ephemeral", "ttl": "1h"}
	check := func(where string, block map[string]any, want map[string]any) {
		t.Helper()
		got, _ := block["cache_control"].(map[string]any)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s cache_control = %v, want %v", where, got, want)
		}
	}
	// The tools alone are below Sonnet's 1,024-token minimum: no mark.
	check("tools[0]", body.Tools[0], nil)
	check("system[0]", body.System[0], want1h)
	check("messages[0] (the previous user turn)", body.Messages[0].Content[0], want1h)
	check("messages[1]", body.Messages[1].Content[0], nil)
	check("messages[2] (the end)", body.Messages[2].Content[0], want1h)
}

func hasMark(req *llm.Request) bool {
	for _, s := range req.System {
		if s.Cache != nil {
			return true
		}
	}
	for _, m := range req.Messages {
		for _, p := range m.Parts {
			if llm.CacheOf(p) != nil {
				return true
			}
		}
	}
	return false
}

// In a multi-turn chat through the Anthropic adapter and SDK, against the
// emulator's prompt cache, the cache-read tokens grow turn by turn: each
// turn reads what the previous one wrote, and writes only what is new.
func TestCacheReadsGrow(t *testing.T) {
	srv := anthropictest.NewServer(t)
	srv.EnableCache(cachepolicy.MinTokensFor("anthropic/claude-sonnet-4-6"))
	claude := anthropic.New(anthropic.Options{APIKey: "sk-ant-test-0123456789", BaseURL: srv.URL}).Model("claude-sonnet-4-6")
	// The emulator counts words; the planner must measure the same way.
	m := cachepolicy.Middleware(cachepolicy.Options{Counter: emulatorCounter{}})(claude)
	req := &llm.Request{System: []llm.Text{{Text: longSystem}}, MaxTokens: 100}
	var usages []llm.Usage
	for turn := range 5 {
		req.Messages = append(req.Messages, llm.UserText(fmt.Sprintf("question %d %s", turn, strings.Repeat("detail ", 40))))
		resp, err := m.Generate(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		usages = append(usages, resp.Usage)
		req.Messages = append(req.Messages, llm.Assistant(resp.Content...))
	}
	if u := usages[0]; u.CacheReadTokens != 0 || u.CacheWriteTokens == 0 {
		t.Errorf("first turn: %+v, want a cache write and no read", u)
	}
	for i := 1; i < len(usages); i++ {
		prev, u := usages[i-1], usages[i]
		if u.CacheReadTokens <= prev.CacheReadTokens {
			t.Errorf("turn %d read %d cached tokens, turn %d %d: reads must grow", i, u.CacheReadTokens, i-1, prev.CacheReadTokens)
		}
		// This turn reads exactly what the last one had in its prefix.
		if want := prev.CacheReadTokens + prev.CacheWriteTokens; u.CacheReadTokens != want {
			t.Errorf("turn %d read %d, want %d (what turn %d read and wrote)", i, u.CacheReadTokens, want, i-1)
		}
		if u.InputTokens > 20 {
			t.Errorf("turn %d paid %d uncached input tokens; the breakpoints should cover all but the tail", i, u.InputTokens)
		}
	}
}

// emulatorCounter counts as anthropictest does.
type emulatorCounter struct{}

func (emulatorCounter) CountTokens(_ context.Context, req *llm.Request) (int, error) {
	n := 0
	for _, t := range req.Tools {
		n += len(strings.Fields(t.Name + " " + t.Description))
	}
	for _, s := range req.System {
		n += len(strings.Fields(s.Text))
	}
	for _, m := range req.Messages {
		n += 3 + len(strings.Fields(m.Text()))
	}
	return n, nil
}

func TestMinTokensFor(t *testing.T) {
	for name, want := range map[string]int{
		"anthropic/claude-sonnet-4-6": 1024, "anthropic/claude-haiku-4-5": 4096,
		"claude-3-5-haiku-latest": 2048, "anthropic/claude-opus-4-5": 4096,
	} {
		if got := cachepolicy.MinTokensFor(name); got != want {
			t.Errorf("MinTokensFor(%q) = %d, want %d", name, got, want)
		}
	}
}

// Other providers' models are returned unwrapped.
func TestOtherProvidersUntouched(t *testing.T) {
	fake := llmtest.NewModel("openai/gpt-4o")
	if got := cachepolicy.Middleware(cachepolicy.Options{})(fake); got != llm.Model(fake) {
		t.Error("an OpenAI model was wrapped")
	}
}
