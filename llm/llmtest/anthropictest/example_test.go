package anthropictest_test

import (
	"context"
	"fmt"
	"net/http"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
)

// The emulator works with any client of the Messages API; here the official
// SDK. Tests use NewServer(t) instead of New and Close.
func Example() {
	api := anthropictest.New()
	defer api.Close()
	api.Enqueue(
		llmtest.WireReply{Fault: llmtest.Fault{Status: 529, Header: http.Header{"Retry-After": {"2"}}}},
		llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "Hello!"}}}},
	)
	client := sdk.NewClient(option.WithoutEnvironmentDefaults(), option.WithAPIKey("sk-ant-test"),
		option.WithBaseURL(api.URL), option.WithMaxRetries(0))
	params := sdk.MessageNewParams{Model: "claude-sonnet-4-6", MaxTokens: 100,
		Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("Hi"))}}

	_, err := client.Messages.New(context.Background(), params)
	if apiErr, ok := err.(*sdk.Error); ok {
		fmt.Println(apiErr.StatusCode, apiErr.Type(), apiErr.Response.Header.Get("Retry-After"))
	}
	msg, err := client.Messages.New(context.Background(), params)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(msg.Content[0].Text, msg.StopReason)
	fmt.Println(len(api.Requests()), "requests;", api.Requests()[1].Path)
	// Output:
	// 529 overloaded_error 2
	// Hello! end_turn
	// 2 requests; /v1/messages
}
