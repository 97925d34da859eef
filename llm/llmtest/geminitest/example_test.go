package geminitest_test

import (
	"context"
	"fmt"
	"net/http"

	"google.golang.org/genai"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/geminitest"
)

// The emulator serves the official SDK as the real API would: here a
// scripted answer, then a rate limit.
func Example() {
	srv := geminitest.New()
	defer srv.Close()
	srv.Enqueue(
		llmtest.WireReply{Response: &llm.Response{
			Content:    []llm.Part{llm.Text{Text: "Hello from the emulator."}},
			StopReason: llm.StopEndTurn,
			Usage:      llm.Usage{InputTokens: 4, OutputTokens: 5},
		}},
		llmtest.WireReply{Fault: llmtest.Fault{Status: http.StatusTooManyRequests}},
	)

	ctx := context.Background()
	client, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:      "test-key",
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := client.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("Hi"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Text(), resp.UsageMetadata.TotalTokenCount)

	_, err = client.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("Again"), nil)
	fmt.Println(err)

	fmt.Println(len(srv.Requests()), "requests")
	// Output:
	// Hello from the emulator. 9
	// Error 429, Message: Resource has been exhausted (e.g. check quota)., Status: RESOURCE_EXHAUSTED, Details: []
	// 2 requests
}
