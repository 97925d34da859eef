package gemini_test

import (
	"context"
	"fmt"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest/geminitest"
	"github.com/keelai/keel/provider/gemini"
)

func ExampleModel_Generate() {
	// The emulator stands in for https://generativelanguage.googleapis.com;
	// with nothing scripted it echoes the last user message.
	srv := geminitest.New()
	defer srv.Close()

	m := gemini.New(gemini.Options{APIKey: "test-key", BaseURL: srv.URL}).Model("gemini-2.5-flash")
	resp, err := m.Generate(context.Background(), &llm.Request{
		Messages: []llm.Message{llm.UserText("Hello, Gemini!")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Model, resp.StopReason, resp.Text())
	// Output: gemini/gemini-2.5-flash end_turn Hello, Gemini!
}

func ExampleModel_Stream() {
	srv := geminitest.New()
	defer srv.Close()

	m := gemini.New(gemini.Options{APIKey: "test-key", BaseURL: srv.URL}).Model("gemini-2.5-flash")
	req := &llm.Request{Messages: []llm.Message{llm.UserText("Streams arrive in pieces.")}}
	for ev, err := range m.Stream(context.Background(), req) {
		if err != nil {
			fmt.Println(err)
			return
		}
		switch ev.Kind {
		case llm.EventText:
			fmt.Printf("%q\n", ev.Text)
		case llm.EventDone:
			fmt.Println(ev.Response.StopReason, ev.Response.Usage.OutputTokens, "output tokens")
		}
	}
	// Output:
	// "Streams "
	// "arrive "
	// "in "
	// "pieces."
	// end_turn 7 output tokens
}
