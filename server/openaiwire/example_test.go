package openaiwire_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/server/openaiwire"
)

// An OpenAI client reaches a Keel model with only its base URL changed.
// Here the model is the scripted fake; in keel serve it is whatever the
// name resolves to (an alias, anthropic/…, gemini/…).
func ExampleNew() {
	fake := llmtest.NewModel("fake/model", llmtest.Reply{Response: &llm.Response{
		Model:      "fake/model",
		Content:    []llm.Part{llm.Text{Text: "Hello from Keel."}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 4, CacheReadTokens: 8, OutputTokens: 5},
	}})
	srv := httptest.NewServer(openaiwire.New(newModels(map[string]llm.Model{"assistant": fake}), nil, openaiwire.Options{}))
	defer srv.Close()

	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("unused"))
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "assistant",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hi")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Choices[0].Message.Content)
	fmt.Println(resp.Choices[0].FinishReason, resp.Model)
	fmt.Println("prompt", resp.Usage.PromptTokens, "cached", resp.Usage.PromptTokensDetails.CachedTokens, "completion", resp.Usage.CompletionTokens)
	// Output:
	// Hello from Keel.
	// stop fake/model
	// prompt 12 cached 8 completion 5
}

// Errors come back as the SDK's own *openai.Error, with OpenAI's status
// and code.
func ExampleWriteError() {
	srv := httptest.NewServer(openaiwire.New(newModels(nil), nil, openaiwire.Options{}))
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "no-such-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hi")},
	})
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Code)
	}
	// Output:
	// 404 model_not_found
}
