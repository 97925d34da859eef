package cachepolicy_test

import (
	"context"
	"crypto/sha256"
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

// cachingModel imitates Anthropic's prompt cache: a breakpoint writes the
// prefix up to it; a later request whose prefix up to one of its
// breakpoints was written reads it. Tokens are words.
type cachingModel struct {
	written map[[32]byte]int
	reads   []int
}

func (c *cachingModel) Name() string { return "anthropic/claude-sonnet-4-6" }

func (c *cachingModel) Generate(_ context.Context, req *llm.Request) (*llm.Response, error) {
	var h [32]byte
	tokens, read := 0, 0
	add := func(s string, cc *llm.CacheControl) {
		h = sha256.Sum256(append(h[:], s...))
		tokens += len(strings.Fields(s))
		if cc != nil {
			if _, ok := c.written[h]; ok {
				read = tokens
			}
			c.written[h] = tokens
		}
	}
	for _, t := range req.Tools {
		add(t.Name+t.Description, t.Cache)
	}
	for _, s := range req.System {
		add(s.Text, s.Cache)
	}
	for _, m := range req.Messages {
		for _, p := range m.Parts {
			// Like the API, the prefix's identity ignores the marks.
			text := fmt.Sprintf("%T", p)
			if t, ok := p.(llm.Text); ok {
				text = t.Text
			}
			add(string(m.Role)+": "+text, llm.CacheOf(p))
		}
	}
	c.reads = append(c.reads, read)
	return &llm.Response{Content: []llm.Part{llm.Text{Text: "answer"}}, StopReason: llm.StopEndTurn,
		Usage: llm.Usage{CacheReadTokens: read}}, nil
}

// In a multi-turn chat the cache-read tokens grow turn by turn: each turn
// reads what the previous one wrote.
func TestCacheReadsGrow(t *testing.T) {
	inner := &cachingModel{written: map[[32]byte]int{}}
	m := cachepolicy.Middleware(cachepolicy.Options{})(llm.Funcs{Next: nil, NameFunc: inner.Name, GenerateFunc: inner.Generate})
	req := &llm.Request{System: []llm.Text{{Text: longSystem}}}
	for turn := range 5 {
		req.Messages = append(req.Messages, llm.UserText(fmt.Sprintf("question %d %s", turn, strings.Repeat("detail ", 40))))
		resp, err := m.Generate(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		req.Messages = append(req.Messages, llm.Assistant(resp.Content...))
	}
	if inner.reads[0] != 0 {
		t.Errorf("first turn read %d cached tokens, want 0", inner.reads[0])
	}
	for i := 1; i < len(inner.reads); i++ {
		if inner.reads[i] <= inner.reads[i-1] {
			t.Errorf("cache reads per turn %v: turn %d does not read more than turn %d", inner.reads, i, i-1)
		}
	}
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
