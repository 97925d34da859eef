package batch_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/keelai/keel/batch"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/provider/anthropic"
)

// A batch on Anthropic's Message Batches API, here the emulator: submit,
// let it run, and read each result by custom id at the batch price.
func ExampleManager() {
	srv := anthropictest.New()
	defer srv.Close()
	srv.Enqueue(
		llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "Paris"}}, Usage: llm.Usage{InputTokens: 1000, OutputTokens: 10}}},
		llmtest.WireReply{Fault: llmtest.Fault{Status: 529}}, // this item fails alone
	)
	srv.EndBatchesAfter(1)

	dir, _ := os.MkdirTemp("", "batches")
	defer os.RemoveAll(dir)
	prov := anthropic.New(anthropic.Options{APIKey: "test", BaseURL: srv.URL})
	m, _ := batch.New(batch.Options{
		Open: func(name string) (llm.Model, error) {
			return prov.Model(strings.TrimPrefix(name, "anthropic/")), nil
		},
		Store: batch.NewStore(dir),
		Model: "anthropic/claude-haiku-4-5",
	})
	ctx := context.Background()
	job, err := m.Submit(ctx, []batch.Item{
		{CustomID: "capital", Request: &llm.Request{Messages: []llm.Message{llm.UserText("Capital of France?")}}},
		{CustomID: "planet", Request: &llm.Request{Messages: []llm.Message{llm.UserText("Largest planet?")}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	st, _ := m.Wait(ctx, job.ID)
	fmt.Println(st.State, st.Counts.Succeeded, "succeeded,", st.Counts.Errored, "errored")
	results, _ := m.Results(ctx, job.ID)
	for _, r := range results {
		if r.Outcome == batch.Succeeded {
			fmt.Printf("%s: %s (%v at batch price)\n", r.CustomID, r.Response.Text(), r.Cost)
		} else {
			fmt.Printf("%s: %s, %s\n", r.CustomID, r.Outcome, r.Err.Kind)
		}
	}
	// Output:
	// ended 1 succeeded, 1 errored
	// capital: Paris ($0.000525 at batch price)
	// planet: errored, overloaded
}

// The local runner, for providers without a batch API: at most two calls
// at a time, results by custom id.
func ExampleLocal() {
	model := llmtest.NewEcho("ollama/llama3.2")
	l := &batch.Local{
		Open:        func(string) (llm.Model, error) { return model, nil },
		Model:       model.Name(),
		Concurrency: 2,
	}
	results, err := l.Run(context.Background(), []batch.Item{
		{CustomID: "a", Request: &llm.Request{Messages: []llm.Message{llm.UserText("first")}}},
		{CustomID: "b", Request: &llm.Request{Messages: []llm.Message{llm.UserText("second")}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(results["a"].Outcome, results["a"].Response.Text())
	fmt.Println(results["b"].Outcome, results["b"].Response.Text())
	// Output:
	// succeeded first
	// succeeded second
}
