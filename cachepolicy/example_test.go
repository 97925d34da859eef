package cachepolicy_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/keelai/keel/cachepolicy"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/window"
)

// Planning breakpoints for one turn of a conversation with Claude: the
// system prompt, the previous user turn (read from the cache written by
// the previous call) and the end of the conversation (written for the
// next) are marked; the short tool list, below the model's minimum, is not.
func ExamplePlan() {
	req := &llm.Request{
		System: []llm.Text{{Text: strings.Repeat("You are a careful assistant for the accounts team. ", 150)}},
		Tools:  []llm.Tool{{Name: "lookup", Description: "Look an invoice up.", InputSchema: []byte(`{"type":"object"}`)}},
		Messages: []llm.Message{
			llm.UserText("first question"), llm.AssistantText("first answer"),
			llm.UserText("second question"),
		},
	}
	counter := window.Estimator{Scale: 1}
	if enc, err := window.GetEncoding(window.O200K); err == nil {
		counter.Encoding = enc
	}
	planned := cachepolicy.Plan(context.Background(), req, cachepolicy.MinTokensFor("anthropic/claude-sonnet-4-6"), llm.CacheTTL5m, counter)

	fmt.Println("tools:", planned.Tools[0].Cache != nil)
	fmt.Println("system:", planned.System[0].Cache != nil)
	for i, m := range planned.Messages {
		fmt.Printf("message %d (%s): %v\n", i, m.Role, llm.CacheOf(m.Parts[len(m.Parts)-1]) != nil)
	}
	// Output:
	// tools: false
	// system: true
	// message 0 (user): true
	// message 1 (assistant): false
	// message 2 (user): true
}
