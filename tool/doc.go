// Package tool turns Go functions into tools a model can call, and runs the
// agent loop that calls them.
//
// A tool is a function func(ctx, In) (Out, error); its JSON Schema comes from
// In, the model's arguments are validated against it before the function
// runs, and every failure (bad arguments, an error, a panic, a timeout)
// becomes a tool result marked as an error that the model sees, so the
// conversation goes on. A Registry holds tools by name.
//
// An Agent calls the model, runs the tool calls of each turn concurrently
// (results in call order), sends the results back and repeats until the model
// ends its turn, or a step limit, a budget or the context stops it; each stop
// is a distinct Outcome carrying the transcript.
//
//	weather := tool.Must("weather", "Current weather in a city",
//		func(ctx context.Context, in struct {
//			City string `json:"city" jsonschema:"city name"`
//		}) (string, error) {
//			return lookup(ctx, in.City)
//		})
//	tools, _ := tool.NewRegistry([]tool.Tool{weather})
//	agent := &tool.Agent{Model: model, Tools: tools, MaxSteps: 8}
//	for ev, err := range agent.Stream(ctx, &llm.Request{Messages: msgs}) {
//		...
//	}
package tool
