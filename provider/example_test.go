package provider_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/provider"
)

// mapEnv stands in for os.Getenv, so that the example sees only the
// variables it sets.
func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// Open a model by its `provider/model` name. The environment says where
// the provider is and holds its key; here OPENAI_BASE_URL points at a wire
// emulator of the OpenAI API, as it would at any compatible server.
func ExampleResolver_Open() {
	srv := openaitest.Start()
	defer srv.Close()
	srv.Enqueue(llmtest.WireReply{Response: &llm.Response{
		Content:    []llm.Part{llm.Text{Text: "Hello from the emulator."}},
		StopReason: llm.StopEndTurn,
	}})

	r := provider.NewResolver(nil, mapEnv(map[string]string{
		"OPENAI_API_KEY":  "sk-test",
		"OPENAI_BASE_URL": srv.URL,
	}))
	m, err := r.Open("openai/gpt-4.1-mini")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := m.Generate(context.Background(), &llm.Request{Messages: []llm.Message{llm.UserText("Hi")}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Name())
	fmt.Println(resp.Text())
	// Output:
	// openai/gpt-4.1-mini
	// Hello from the emulator.
}

// Aliases from keel.yaml stand for a provider and a model; providers
// declared there extend the built-in ones, here with an OpenAI-compatible
// server that needs no key (Ollama, vLLM and llama.cpp look like this).
// Alias returns an alias's fallbacks and price for the middleware that
// use them.
func ExampleResolver_Alias() {
	local := openaitest.Start() // stands in for a local server
	defer local.Close()
	local.SetCompat(openaitest.Compat{NoAuth: true})

	cfg, err := config.Parse("keel.yaml", []byte(`
providers:
  local:
    type: openai
    base_url: `+local.URL+`
models:
  fast:
    provider: local
    model: qwen3
    fallbacks: [anthropic/claude-haiku-4-5]
    price: {input: 0, output: 0}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	r := provider.NewResolver(cfg, mapEnv(nil))

	m, err := r.Open("fast")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, _ := m.Generate(context.Background(), &llm.Request{Messages: []llm.Message{llm.UserText("echo this")}})
	alias, _ := r.Alias("fast")
	fmt.Println(m.Name(), "answered:", resp.Text())
	fmt.Println("fallbacks:", alias.Fallbacks)
	// Output:
	// local/qwen3 answered: echo this
	// fallbacks: [anthropic/claude-haiku-4-5]
}

// Streaming works the same through every provider: here Anthropic's API,
// emulated, reached through ANTHROPIC_BASE_URL.
func ExampleResolver_Open_stream() {
	srv := anthropictest.New()
	defer srv.Close()

	r := provider.NewResolver(nil, mapEnv(map[string]string{
		"ANTHROPIC_API_KEY":  "sk-ant-test",
		"ANTHROPIC_BASE_URL": srv.URL,
	}))
	m, err := r.Open("anthropic/claude-sonnet-4-6")
	if err != nil {
		fmt.Println(err)
		return
	}
	req := &llm.Request{Messages: []llm.Message{llm.UserText("streamed back word by word")}}
	for ev, err := range m.Stream(context.Background(), req) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		switch ev.Kind {
		case llm.EventText:
			fmt.Print(ev.Text)
		case llm.EventDone:
			fmt.Println()
			fmt.Println(ev.Response.StopReason)
		}
	}
	// Output:
	// streamed back word by word
	// end_turn
}

// Default picks the model used when none is named: the alias "default",
// else the first provider configured among anthropic, openai, gemini and
// ollama. With nothing configured it says so, with a hint.
func ExampleResolver_Default() {
	for _, env := range []map[string]string{
		{"GEMINI_API_KEY": "g-key", "OLLAMA_HOST": "127.0.0.1:11434"},
		{"OLLAMA_HOST": "127.0.0.1:11434"},
		{},
	} {
		name, err := provider.NewResolver(nil, mapEnv(env)).Default()
		fmt.Println(name, errors.Is(err, provider.ErrNoProvider))
	}
	// Output:
	// gemini/gemini-2.5-flash false
	// ollama/llama3.2 false
	//  true
}

// A provider that needs a key and has none fails with ErrNoKey, and the
// error says which variable to set.
func ExampleError() {
	_, err := provider.NewResolver(nil, mapEnv(nil)).Open("anthropic/claude-sonnet-4-6")
	fmt.Println(errors.Is(err, provider.ErrNoKey))
	fmt.Println(err)
	// Output:
	// true
	// model "anthropic/claude-sonnet-4-6": provider "anthropic": no API key: set ANTHROPIC_API_KEY
}
