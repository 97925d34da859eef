package tool_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/tool"
)

func ExampleAgent_Stream() {
	type In struct {
		City string `json:"city" jsonschema:"city name"`
	}
	weather := tool.Must("weather", "Current weather in a city",
		func(ctx context.Context, in In) (string, error) { return "18°C and sunny in " + in.City, nil })
	tools, err := tool.NewRegistry([]tool.Tool{weather})
	if err != nil {
		fmt.Println(err)
		return
	}
	// A scripted model: it calls the tool, then answers.
	model := llmtest.NewModel("",
		llmtest.ToolCall("call_1", "weather", `{"city":"Lisbon"}`),
		llmtest.Text("Lisbon is sunny, 18°C."),
	)
	agent := &tool.Agent{Model: model, Tools: tools, MaxSteps: 5}
	req := &llm.Request{Messages: []llm.Message{llm.UserText("Weather in Lisbon?")}}
	for ev, err := range agent.Stream(context.Background(), req) {
		if err != nil {
			fmt.Println("stopped:", err)
			return
		}
		switch ev.Kind {
		case tool.EventText:
			fmt.Print(ev.Text)
		case tool.EventToolEnd:
			fmt.Printf("[%s %s → %s]\n", ev.Call.Name, ev.Call.Input, ev.ToolResult.Content[0].(llm.Text).Text)
		case tool.EventDone:
			fmt.Printf("\n%s after %d steps\n", ev.Result.Outcome, len(ev.Result.Steps))
		}
	}
	// Output:
	// [weather {"city":"Lisbon"} → 18°C and sunny in Lisbon]
	// Lisbon is sunny, 18°C.
	// end_turn after 2 steps
}

func ExampleStopError() {
	model := llmtest.NewModel("",
		llmtest.ToolCall("1", "ping", `{}`),
		llmtest.ToolCall("2", "ping", `{}`),
	)
	ping := tool.Must("ping", "", func(ctx context.Context, in struct{}) (string, error) { return "pong", nil })
	tools, _ := tool.NewRegistry([]tool.Tool{ping})
	agent := &tool.Agent{Model: model, Tools: tools, MaxSteps: 1}
	_, err := agent.Run(context.Background(), &llm.Request{Messages: []llm.Message{llm.UserText("ping forever")}})
	if se, ok := errors.AsType[*tool.StopError](err); ok {
		fmt.Println(se.Result.Outcome, len(se.Result.Messages), "messages")
	}
	// Output: step_limit 3 messages
}
