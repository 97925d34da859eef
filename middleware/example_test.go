package middleware_test

import (
	"context"
	"fmt"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/middleware"
	"github.com/keelai/keel/middleware/callinfo"
)

// A primary model that is overloaded, and a fallback that answers: the call
// moves on at once, and callinfo tells which model served.
func ExampleStack() {
	primary := llmtest.NewModel("anthropic/claude-sonnet-4-6", llmtest.Fail(llm.KindOverloaded))
	secondary := llmtest.NewModel("openai/gpt-4.1-mini", llmtest.Text("Paris."))

	m := middleware.Stack(middleware.StackOptions{Fallbacks: []llm.Model{secondary}})(primary)

	ctx, info := callinfo.Ensure(context.Background())
	resp, err := m.Generate(ctx, &llm.Request{Messages: []llm.Message{llm.UserText("Capital of France?")}})
	if err != nil {
		panic(err)
	}
	rec := info.Record()
	fmt.Println(resp.Text(), rec.Model, rec.Attempts, rec.Fallbacks)
	// Output: Paris. openai/gpt-4.1-mini 2 1
}
