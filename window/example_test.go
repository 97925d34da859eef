package window_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/window"
)

// Counting with OpenAI's exact tokenizer: the encoding's ranks are compiled
// in, so this works offline.
func ExampleGetEncoding() {
	enc, err := window.GetEncoding(window.O200K)
	if err != nil {
		panic(err)
	}
	fmt.Println(enc.Count("hello world"), enc.Count("Keel keeps the context window in budget."))
	// Output: 2 9
}

// wordCounter counts words: a stand-in tokenizer whose counts can be
// checked by eye.
type wordCounter struct{}

func (wordCounter) CountTokens(_ context.Context, req *llm.Request) (int, error) {
	n := 0
	for _, s := range req.System {
		n += len(strings.Fields(s.Text))
	}
	for _, m := range req.Messages {
		n += len(strings.Fields(m.Text()))
	}
	return n, nil
}

// Fitting a long conversation into a budget keeps the system prompt and the
// newest turns, and never starts the window with an assistant turn.
func ExampleFit() {
	req := &llm.Request{
		System: []llm.Text{{Text: "You are terse."}}, // 3 words
		Messages: []llm.Message{
			llm.UserText("one two three four five"),
			llm.AssistantText("six seven eight nine ten"),
			llm.UserText("eleven twelve"),
			llm.AssistantText("thirteen fourteen"),
			llm.UserText("fifteen"),
		},
	}
	fitted, dropped, err := window.Fit(context.Background(), wordCounter{}, req, 10, 0)
	if err != nil {
		panic(err)
	}
	fmt.Println("dropped", dropped)
	for _, m := range fitted.Messages {
		fmt.Printf("%s: %s\n", m.Role, m.Text())
	}
	// Output:
	// dropped 2
	// user: eleven twelve
	// assistant: thirteen fourteen
	// user: fifteen
}

// A counter with a cache encodes each message once: counting the
// conversation again after a new turn encodes only the new message.
func ExampleNewMessageCache() {
	enc, err := window.GetEncoding(window.O200K)
	if err != nil {
		panic(err)
	}
	counter := window.OpenAICounter{Encoding: enc, Cache: window.NewMessageCache(4096)}
	req := &llm.Request{Messages: []llm.Message{llm.UserText("hello world")}}
	before, _ := counter.CountTokens(context.Background(), req)
	req.Messages = append(req.Messages, llm.AssistantText("Hi!"), llm.UserText("How are you?"))
	after, _ := counter.CountTokens(context.Background(), req)
	fmt.Println(before, after)
	// Output: 9 23
}
