package anthropic_test

import (
	"context"
	"fmt"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/provider/anthropic"
)

// The emulator stands in for the API here; in production BaseURL is left
// empty and APIKey comes from Keel's configuration.
func ExampleModel_Generate() {
	api := anthropictest.New()
	defer api.Close()
	api.Enqueue(llmtest.WireReply{Response: &llm.Response{
		Content:    []llm.Part{llm.Text{Text: "Rayleigh scattering."}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 3, OutputTokens: 4, CacheReadTokens: 1200},
	}})

	m := anthropic.New(anthropic.Options{APIKey: "sk-ant-example", BaseURL: api.URL}).Model("claude-sonnet-4-6")
	resp, err := m.Generate(context.Background(), &llm.Request{
		System:   []llm.Text{{Text: "Answer in two words.", Cache: &llm.CacheControl{}}},
		Messages: []llm.Message{llm.UserText("Why is the sky blue?")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Model)
	fmt.Println(resp.Text(), resp.StopReason)
	fmt.Printf("%+v\n", resp.Usage)
	// Output:
	// anthropic/claude-sonnet-4-6
	// Rayleigh scattering. end_turn
	// {InputTokens:3 OutputTokens:4 CacheReadTokens:1200 CacheWriteTokens:0 CacheWrite1hTokens:0}
}

// Streaming: text arrives as deltas; the last event carries the whole
// response. With no script the emulator echoes the last user message.
func ExampleModel_Stream() {
	api := anthropictest.New()
	defer api.Close()

	m := anthropic.New(anthropic.Options{APIKey: "sk-ant-example", BaseURL: api.URL}).Model("claude-haiku-4-5")
	req := &llm.Request{Messages: []llm.Message{llm.UserText("echo these words")}}
	for ev, err := range m.Stream(context.Background(), req) {
		if err != nil {
			fmt.Println(err)
			return
		}
		switch ev.Kind {
		case llm.EventText:
			fmt.Printf("%q\n", ev.Text)
		case llm.EventDone:
			fmt.Println(ev.Response.Text(), ev.Response.StopReason)
		}
	}
	// Output:
	// "echo "
	// "these "
	// "words"
	// echo these words end_turn
}

// An error the API sends becomes an *llm.Error whose Kind callers branch
// on; retry-after is parsed.
func ExampleModel_Generate_error() {
	api := anthropictest.New()
	defer api.Close()
	api.Enqueue(llmtest.WireReply{Fault: llmtest.Fault{Status: 529}})

	m := anthropic.New(anthropic.Options{APIKey: "sk-ant-example", BaseURL: api.URL}).Model("claude-sonnet-4-6")
	_, err := m.Generate(context.Background(), &llm.Request{Messages: []llm.Message{llm.UserText("hi")}})
	fmt.Println(llm.KindOf(err), llm.IsRetryable(err))
	// Output:
	// overloaded true
}
