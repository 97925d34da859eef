package agents_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/keelai/keel/agents"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

// Three reviewers read the same code at once on a cheap model, and a
// synthesiser merges their reviews; each agent's usage and cost is reported
// separately. Scripted fakes stand in for the models.
func Example_codeReview() {
	code := `func load(path string) []byte { b, _ := os.ReadFile(path); return b }`

	// In production: cheap, _ := resolver.Model(ctx, "openai/gpt-4.1-mini").
	cheap := func(answer string) llm.Model {
		return llmtest.NewModel("openai/gpt-4.1-mini", llmtest.Reply{Response: &llm.Response{
			Content:    []llm.Part{llm.Text{Text: answer}},
			StopReason: llm.StopEndTurn,
			Usage:      llm.Usage{InputTokens: 400, OutputTokens: 60},
		}})
	}
	prices := cost.DefaultTable()
	reviewer := func(name, focus, answer string) *agents.Agent {
		return &agents.Agent{
			Name:   name,
			System: "You review Go code for " + focus + " only. List concrete problems, one a line.",
			Model:  cheap(answer),
			Prices: prices,
		}
	}
	reviewers := []*agents.Agent{
		reviewer("security", "security", "- path is not checked: a caller can read any file"),
		reviewer("performance", "performance", "- reads the whole file into memory"),
		reviewer("style", "style and error handling", "- the error from os.ReadFile is dropped"),
	}
	synthesiser := &agents.Agent{
		Name:   "synthesiser",
		System: "Merge the reviews into one list, most severe first.",
		Model: cheap("1. Dropped error from os.ReadFile.\n" +
			"2. Unchecked path: arbitrary file read.\n" +
			"3. Whole file held in memory."),
		Prices: prices,
	}

	meter := agents.NewMeter()
	ctx := agents.WithMeter(context.Background(), meter)

	tasks := make([]agents.Task[string], len(reviewers))
	for i, r := range reviewers {
		tasks[i] = func(ctx context.Context) (string, error) { return r.Ask(ctx, code) }
	}
	reviews, err := agents.All(ctx, agents.FanOut{Name: "review", Limit: 3}, tasks...)
	if err != nil {
		fmt.Println(err)
		return
	}
	merged, err := synthesiser.Ask(ctx, strings.Join(reviews, "\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(merged)

	byAgent := agents.ByAgent(meter)
	for _, name := range []string{"security", "performance", "style", "synthesiser"} {
		u := byAgent[name]
		fmt.Printf("%-12s %d in %d out %s\n", name, u.Usage.InputTokens, u.Usage.OutputTokens, u.Cost)
	}
	fmt.Println("total", meter.Report().Total.Cost)
	// Output:
	// 1. Dropped error from os.ReadFile.
	// 2. Unchecked path: arbitrary file read.
	// 3. Whole file held in memory.
	// security     400 in 60 out $0.000256
	// performance  400 in 60 out $0.000256
	// style        400 in 60 out $0.000256
	// synthesiser  400 in 60 out $0.000256
	// total $0.001024
}

// A pipeline of typed stages: the compiler checks that each stage's output
// type is the next one's input type.
func ExampleThen() {
	type Ticket struct {
		Product string `json:"product"`
		Urgent  bool   `json:"urgent"`
	}
	triage := &agents.Agent{Name: "triage", Model: llmtest.NewModel("",
		llmtest.Text(`{"product":"billing","urgent":true}`))}
	route := func(ctx context.Context, t Ticket) (string, error) {
		if t.Urgent {
			return "page the " + t.Product + " on-call", nil
		}
		return "queue for " + t.Product, nil
	}
	p := agents.Then(agents.GenerateStage[Ticket](triage), agents.Stage[Ticket, string](route))
	action, err := p(context.Background(), "I was charged twice and my card is now blocked!")
	fmt.Println(action, err)
	// Output: page the billing on-call <nil>
}
