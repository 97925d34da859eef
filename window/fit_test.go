package window

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

// words counts a request's words, a stand-in tokenizer whose counts a
// reader can check by eye.
type words struct{ calls int }

func (w *words) CountTokens(_ context.Context, req *llm.Request) (int, error) {
	w.calls++
	return countRequest(func(s string) int { return len(strings.Fields(s)) }, req), nil
}

// conversation builds a random conversation: user turns, answered by
// text or by rounds of tool calls whose results come back in user
// messages, ending with a user turn (fresh or tool results).
func conversation(r *rand.Rand) []llm.Message {
	var msgs []llm.Message
	id := 0
	text := func() string { return strings.Repeat("word ", 1+r.IntN(30)) }
	turns := 1 + r.IntN(12)
	for t := range turns {
		msgs = append(msgs, llm.UserText(fmt.Sprintf("turn %d ", t)+text()))
		if t == turns-1 && r.IntN(2) == 0 {
			break
		}
		for range r.IntN(3) { // tool rounds
			var calls, results []llm.Part
			if r.IntN(2) == 0 {
				calls = append(calls, llm.Text{Text: text()})
			}
			for range 1 + r.IntN(3) {
				id++
				calls = append(calls, llm.ToolCall{ID: fmt.Sprint(id), Name: "t", Input: []byte(`{}`)})
				results = append(results, llm.ToolResult{CallID: fmt.Sprint(id), Content: []llm.Part{llm.Text{Text: text()}}})
			}
			msgs = append(msgs, llm.Assistant(calls...), llm.User(results...))
		}
		if t == turns-1 && r.IntN(2) == 0 {
			break // the agent loop is mid-way: the last message holds tool results
		}
		if t < turns-1 {
			msgs = append(msgs, llm.AssistantText(text()))
		}
	}
	return msgs
}

// checkValid fails unless msgs is a conversation every provider accepts:
// it starts with a user turn that is not a tool result, and every tool call
// is answered in the next message and every result answers the previous.
func checkValid(t *testing.T, msgs []llm.Message) {
	t.Helper()
	if len(msgs) == 0 || !turnStart(msgs[0]) {
		t.Fatalf("window starts with %+v, want a fresh user turn", msgs[:min(1, len(msgs))])
	}
	for i, m := range msgs {
		for _, p := range m.Parts {
			switch p := p.(type) {
			case llm.ToolCall:
				if i+1 >= len(msgs) || !hasResult(msgs[i+1], p.ID) {
					t.Fatalf("message %d: tool call %s has no result after it", i, p.ID)
				}
			case llm.ToolResult:
				if i == 0 || !hasCall(msgs[i-1], p.CallID) {
					t.Fatalf("message %d: tool result %s has no call before it", i, p.CallID)
				}
			}
		}
	}
}

func hasResult(m llm.Message, id string) bool {
	for _, p := range m.Parts {
		if r, ok := p.(llm.ToolResult); ok && r.CallID == id {
			return true
		}
	}
	return false
}

func hasCall(m llm.Message, id string) bool {
	for _, c := range m.ToolCalls() {
		if c.ID == id {
			return true
		}
	}
	return false
}

func lastTurnStart(msgs []llm.Message) int {
	for i := len(msgs) - 1; i >= 0; i-- {
		if turnStart(msgs[i]) {
			return i
		}
	}
	return -1
}

// TestFitProperties checks Fit on random conversations with tool-call
// pairs and random budgets: the window is within budget, valid, keeps the
// system prompt, the newest user turn and everything after it, and is a
// suffix of the conversation; Fit refuses only when that turn alone is too
// large.
func TestFitProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	c := &words{}
	for i := range 3000 {
		req := &llm.Request{System: []llm.Text{{Text: "be brief"}}, Messages: conversation(r)}
		full, _ := c.CountTokens(ctx, req)
		budget := r.IntN(full + 20)
		got, dropped, err := Fit(ctx, c, req, budget, 0)
		newest := lastTurnStart(req.Messages)
		minimal := req.Clone()
		minimal.Messages = req.Messages[newest:]
		need, _ := c.CountTokens(ctx, minimal)
		if err != nil {
			var le *llm.Error
			if !errors.As(err, &le) || le.Kind != llm.KindContextLength {
				t.Fatalf("case %d: error %v, want KindContextLength", i, err)
			}
			if need <= budget {
				t.Fatalf("case %d: refused, but the newest turn (%d tokens) fits the budget %d", i, need, budget)
			}
			continue
		}
		if n, _ := c.CountTokens(ctx, got); n > budget {
			t.Fatalf("case %d: window has %d tokens, budget %d", i, n, budget)
		}
		checkValid(t, got.Messages)
		if diff := cmp.Diff(req.System, got.System); diff != "" {
			t.Fatalf("case %d: system changed:\n%s", i, diff)
		}
		if diff := cmp.Diff(req.Messages[dropped:], got.Messages); diff != "" {
			t.Fatalf("case %d: window is not the conversation's last %d messages:\n%s", i, len(req.Messages)-dropped, diff)
		}
		if dropped > newest {
			t.Fatalf("case %d: dropped %d messages, past the newest user turn at %d", i, dropped, newest)
		}
		// Maximal: starting at the previous turn would not have fitted.
		if dropped > 0 {
			prev := -1
			for j := dropped - 1; j >= 0; j-- {
				if turnStart(req.Messages[j]) {
					prev = j
					break
				}
			}
			if prev >= 0 {
				bigger := req.Clone()
				bigger.Messages = req.Messages[prev:]
				if n, _ := c.CountTokens(ctx, bigger); n <= budget {
					t.Fatalf("case %d: dropped %d messages, but starting at %d (%d tokens) fits %d", i, dropped, prev, n, budget)
				}
			}
		}
	}
}

func TestFitPinned(t *testing.T) {
	msgs := []llm.Message{
		llm.UserText("the task statement"),
		llm.Assistant(llm.ToolCall{ID: "1", Name: "t", Input: []byte(`{}`)}),
		llm.User(llm.ToolResult{CallID: "1", Content: []llm.Part{llm.Text{Text: "pinned tool output"}}}),
		llm.AssistantText("ok"),
		llm.UserText(strings.Repeat("old ", 50)),
		llm.AssistantText(strings.Repeat("old ", 50)),
		llm.UserText("newest question"),
	}
	req := &llm.Request{Messages: msgs}
	got, dropped, err := Fit(context.Background(), &words{}, req, 60, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Pin 1 extends to the end of the tool round (index 4).
	want := append(msgs[:4:4], msgs[6])
	if diff := cmp.Diff(want, got.Messages); diff != "" || dropped != 2 {
		t.Errorf("dropped %d, window (-want +got):\n%s", dropped, diff)
	}
}

func TestMiddlewareCompacts(t *testing.T) {
	summariser := llmtest.NewModel("fake/cheap", llmtest.Text("S1 summary"), llmtest.Text("S2 summary"),
		llmtest.Text("S3 summary"), llmtest.Text("S4 summary"), llmtest.Text("S5 summary"))
	model := llmtest.NewEcho("fake/main")
	m := llm.Chain(model, Middleware(Options{Budget: 60, Counter: &words{}, Compactor: NewCompactor(summariser, 10)}))
	ctx := context.Background()
	long := strings.Repeat("blah ", 15)
	var msgs []llm.Message
	for turn := range 6 {
		msgs = append(msgs, llm.UserText(fmt.Sprintf("q%d %s", turn, long)))
		if _, err := m.Generate(ctx, &llm.Request{Messages: msgs}); err != nil {
			t.Fatalf("turn %d: %v", turn, err)
		}
		msgs = append(msgs, llm.AssistantText(fmt.Sprintf("a%d", turn)))
	}
	reqs := model.Requests()
	last := reqs[len(reqs)-1]
	if n, _ := (&words{}).CountTokens(ctx, last); n > 60 {
		t.Errorf("last request has %d tokens, budget 60", n)
	}
	first := last.Messages[0].Parts[0].(llm.Text).Text
	if !strings.HasPrefix(first, "<conversation_summary>\nS") {
		t.Errorf("window starts with %q, want the summary", first)
	}
	sreqs := summariser.Requests()
	if len(sreqs) < 2 {
		t.Fatalf("summariser called %d times, want one per newly dropped stretch", len(sreqs))
	}
	// The same conversation again (a retry) is summarised from the cache.
	if _, err := m.Generate(ctx, last); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Generate(ctx, &llm.Request{Messages: msgs[:len(msgs)-1]}); err != nil {
		t.Fatal(err)
	}
	if n := len(summariser.Requests()); n != len(sreqs) {
		t.Errorf("summariser called %d times after a repeat, want %d (cached)", n, len(sreqs))
	}
	// The second summary builds on the first, from the new turns only.
	second := sreqs[1].Messages[0].Text()
	if !strings.Contains(second, "<previous_summary>\nS1 summary") || strings.Contains(second, "q0 ") {
		t.Errorf("second summary request is not incremental:\n%s", second)
	}
}

func TestMiddlewareTooLarge(t *testing.T) {
	model := llmtest.NewEcho("fake/main")
	m := llm.Chain(model, Middleware(Options{Budget: 5, Counter: &words{}}))
	_, err := m.Generate(context.Background(), &llm.Request{Messages: []llm.Message{llm.UserText(strings.Repeat("x ", 50))}})
	var le *llm.Error
	if !errors.As(err, &le) || le.Kind != llm.KindContextLength {
		t.Fatalf("Generate = %v, want KindContextLength", err)
	}
	if n := len(model.Requests()); n != 0 {
		t.Errorf("%d requests reached the model, want 0", n)
	}
	for _, err := range m.Stream(context.Background(), &llm.Request{Messages: []llm.Message{llm.UserText(strings.Repeat("x ", 50))}}) {
		if !errors.As(err, &le) {
			t.Errorf("Stream yielded %v, want KindContextLength", err)
		}
	}
}

func TestLimitFor(t *testing.T) {
	tests := []struct {
		name string
		want Limit
		ok   bool
	}{
		{"anthropic/claude-sonnet-4-6", Limit{200_000, 64_000}, true},
		{"openai/gpt-4o-mini", Limit{128_000, 16_384}, true},
		{"openai/gpt-4", Limit{8_192, 8_192}, true},
		{"gemini/gemini-2.5-flash", Limit{1_048_576, 65_536}, true},
		{"ollama/unknown", Limit{}, false},
	}
	for _, tt := range tests {
		got, ok := LimitFor(tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("LimitFor(%q) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// fakeCounter is an llm.TokenCounter that fails on demand.
type fakeCounter struct {
	calls int
	fail  bool
}

func (f *fakeCounter) CountTokens(context.Context, *llm.Request) (int, error) {
	f.calls++
	if f.fail {
		return 0, &llm.Error{Kind: llm.KindNetwork, Message: "unreachable"}
	}
	return 42, nil
}

func TestCached(t *testing.T) {
	exact := &fakeCounter{}
	c := NewCached(exact, Estimator{Scale: 2, Encoding: mustEnc(t)}, 10)
	req := &llm.Request{Messages: []llm.Message{llm.UserText("hello world")}}
	for range 3 {
		if n, err := c.CountTokens(context.Background(), req); n != 42 || err != nil {
			t.Fatalf("CountTokens = %d, %v; want 42", n, err)
		}
	}
	if exact.calls != 1 {
		t.Errorf("exact counter called %d times, want 1 (cached)", exact.calls)
	}
	exact.fail = true
	other := &llm.Request{Messages: []llm.Message{llm.UserText("hello world again")}}
	n, err := c.CountTokens(context.Background(), other)
	// o200k: 3 framing + (3 + 1 role + 3 text) + ... scaled by 2.
	want := 2 * countRequest(mustEnc(t).Count, other)
	if err != nil || n != want {
		t.Errorf("fallback CountTokens = %d, %v; want the estimate %d", n, err, want)
	}
}

func mustEnc(t *testing.T) *Encoding {
	e, err := GetEncoding(O200K)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// onlyCount hides a counter's split, so Fit takes its general path.
type onlyCount struct{ c Counter }

func (o onlyCount) CountTokens(ctx context.Context, req *llm.Request) (int, error) {
	return o.c.CountTokens(ctx, req)
}

// The offline counters' fast path (each message counted once) chooses the
// same window, and the same errors, as counting whole windows.
func TestFitSplitMatchesCounting(t *testing.T) {
	enc, err := GetEncoding(O200K)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 11))
	for _, c := range []Counter{OpenAICounter{Encoding: enc}, Estimator{Scale: 1.25, Encoding: enc}} {
		for range 100 {
			req := &llm.Request{System: []llm.Text{{Text: "system prompt"}}, Messages: conversation(r)}
			full, _ := c.CountTokens(t.Context(), req)
			budget := 1 + r.IntN(full+20)
			pin := r.IntN(3)
			fast, fastDropped, fastErr := Fit(t.Context(), c, req, budget, pin)
			slow, slowDropped, slowErr := Fit(t.Context(), onlyCount{c}, req, budget, pin)
			if (fastErr == nil) != (slowErr == nil) || fastDropped != slowDropped {
				t.Fatalf("budget %d pin %d: split gave %d dropped, %v; counting %d, %v", budget, pin, fastDropped, fastErr, slowDropped, slowErr)
			}
			if fastErr == nil && len(fast.Messages) != len(slow.Messages) {
				t.Fatalf("budget %d: %d messages kept by the split, %d by counting", budget, len(fast.Messages), len(slow.Messages))
			}
		}
	}
}

// BenchmarkFitLongChat fits a 200-turn chat (about 60k tokens) into half
// its size: with the split, and by counting windows (the general path).
// With a MessageCache, "cold" fits with an empty cache each time, and
// "warm" is a chat server's next turn: the history fitted before, plus
// the answer and a new question.
func BenchmarkFitLongChat(b *testing.B) {
	enc, err := GetEncoding(O200K)
	if err != nil {
		b.Fatal(err)
	}
	var msgs []llm.Message
	for i := range 200 {
		msgs = append(msgs, llm.UserText(fmt.Sprintf("question %d: %s", i, strings.Repeat("how does the window keep the newest turns? ", 3))),
			llm.AssistantText(strings.Repeat("It drops the oldest turns first and keeps the system prompt. ", 20)))
	}
	msgs = append(msgs, llm.UserText("last"))
	req := &llm.Request{System: []llm.Text{{Text: "You are terse."}}, Messages: msgs}
	c := OpenAICounter{Encoding: enc}
	full, _ := c.CountTokens(context.Background(), req)
	for _, bc := range []struct {
		name string
		c    Counter
	}{{"split", c}, {"counting", onlyCount{c}}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := Fit(context.Background(), bc.c, req, full/2, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("cached-cold", func(b *testing.B) {
		for b.Loop() {
			cold := OpenAICounter{Encoding: enc, Cache: NewMessageCache(1024)}
			if _, _, err := Fit(context.Background(), cold, req, full/2, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached-warm", func(b *testing.B) {
		warm := OpenAICounter{Encoding: enc, Cache: NewMessageCache(1 << 16)}
		if _, _, err := Fit(context.Background(), warm, req, full/2, 0); err != nil {
			b.Fatal(err)
		}
		turn := 0
		for b.Loop() {
			turn++
			next := *req
			next.Messages = append(req.Messages[:len(req.Messages):len(req.Messages)],
				llm.AssistantText(fmt.Sprintf("Answer %d: %s", turn, strings.Repeat("the window keeps the newest turns. ", 20))),
				llm.UserText(fmt.Sprintf("question %d: and then?", turn)))
			if _, _, err := Fit(context.Background(), warm, &next, full/2, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
