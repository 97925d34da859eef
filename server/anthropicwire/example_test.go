package anthropicwire_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/server/anthropicwire"
)

// The official Anthropic SDK, with only its base URL changed, talks to any
// model Keel can open: here a scripted fake standing in for, say, an
// OpenAI or a local model.
func Example() {
	fake := llmtest.NewModel("fake/model", llmtest.Reply{Response: &llm.Response{
		Content:    []llm.Part{llm.Text{Text: "Rayleigh scattering."}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 9, OutputTokens: 3, CacheReadTokens: 120},
	}})
	srv := httptest.NewServer(anthropicwire.New(models{"fake/model": fake}, anthropicwire.Options{}))
	defer srv.Close()

	client := anthropic.NewClient(option.WithoutEnvironmentDefaults(), option.WithBaseURL(srv.URL),
		option.WithAPIKey("sk-keel-example"))
	stream := client.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model:     "fake/model",
		MaxTokens: 256,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Why is the sky blue?"))},
	})
	var msg anthropic.Message
	var events []string
	for stream.Next() {
		ev := stream.Current()
		msg.Accumulate(ev)
		events = append(events, ev.Type)
	}
	if err := stream.Err(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.Join(events, " "))
	fmt.Println(msg.Content[0].Text, msg.StopReason)
	fmt.Println("input", msg.Usage.InputTokens, "cache read", msg.Usage.CacheReadInputTokens, "output", msg.Usage.OutputTokens)
	// Output:
	// message_start content_block_start content_block_delta content_block_delta content_block_stop message_delta message_stop
	// Rayleigh scattering. end_turn
	// input 9 cache read 120 output 3
}
