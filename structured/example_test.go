package structured_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/structured"
)

func ExampleGenerate() {
	type Verdict struct {
		Label  string `json:"label" enum:"spam,ham"`
		Reason string `json:"reason" jsonschema:"one sentence"`
	}
	// A scripted model stands in for a provider; its first answer breaks
	// the schema, so Generate sends the problems back once.
	model := llmtest.NewModel("",
		llmtest.Text(`{"label":"junk","reason":"shouting"}`),
		llmtest.Text("```json\n{\"label\":\"spam\",\"reason\":\"It promises a prize.\"}\n```"),
	)
	v, err := structured.Generate[Verdict](context.Background(), model, &llm.Request{
		Messages: []llm.Message{llm.UserText("Classify: WIN A FREE CRUISE")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %s\n", v.Label, v.Reason)
	// Output: spam: It promises a prize.
}

func ExampleError() {
	model := llmtest.NewModel("", llmtest.Text("I'd rather not say."))
	_, err := structured.Generate[[]int](context.Background(), model,
		&llm.Request{Messages: []llm.Message{llm.UserText("Primes below 10?")}},
		structured.WithRepairs(0))
	if se, ok := errors.AsType[*structured.Error](err); ok {
		fmt.Printf("raw output: %q\n", se.Raw)
	}
	// Output: raw output: "I'd rather not say."
}
