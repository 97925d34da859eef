package anthropicwire

import (
	"testing"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

// The counter of a model that cannot count itself is kept across
// requests, so its cache of per-message counts serves the next turn.
func TestCountKeepsOneCounterPerModel(t *testing.T) {
	h := New(nil, Options{}).(*handler)
	m := llmtest.NewEcho("openai/gpt-5-mini")
	req := &llm.Request{Messages: []llm.Message{llm.UserText("How many tokens is this?")}}
	first, err := h.count(t.Context(), m, req)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := h.counterFor(m)
	req.Messages = append(req.Messages, llm.AssistantText("Seven or so."), llm.UserText("And now?"))
	second, err := h.count(t.Context(), m, req)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := h.counterFor(m); again != c || len(h.counters) != 1 {
		t.Errorf("the counter was not kept: %d counters", len(h.counters))
	}
	if first <= 0 || second <= first {
		t.Errorf("counts %d then %d", first, second)
	}
}
