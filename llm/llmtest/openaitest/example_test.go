package openaitest_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/provider/openai"
)

// A scripted tool call, then a rate limit, against Keel's OpenAI adapter;
// the recorded body shows what was sent. In a test, use NewServer(t).
func ExampleServer() {
	srv := openaitest.Start()
	defer srv.Close()
	srv.Enqueue(
		llmtest.WireReply{Response: &llm.Response{
			Content:    []llm.Part{llm.ToolCall{ID: "call_1", Name: "lookup", Input: json.RawMessage(`{"q":"keel"}`)}},
			StopReason: llm.StopToolUse,
		}},
		llmtest.WireReply{Fault: llmtest.Fault{Status: 429}},
	)
	m := openai.New(openai.Options{APIKey: "sk-example", BaseURL: srv.URL}).Model("gpt-4.1-mini")
	req := &llm.Request{Messages: []llm.Message{llm.UserText("Look up keel.")}}

	resp, err := llm.Collect(m.Stream(context.Background(), req))
	fmt.Println(resp.StopReason, resp.ToolCalls()[0].Name, string(resp.ToolCalls()[0].Input), err)

	_, err = m.Generate(context.Background(), req)
	fmt.Println(llm.KindOf(err), llm.IsRetryable(err))

	var sent struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	_ = json.Unmarshal(srv.Requests()[0].Body, &sent)
	fmt.Println(sent.Model, sent.Stream)
	// Output:
	// tool_use lookup {"q":"keel"} <nil>
	// rate_limited true
	// gpt-4.1-mini true
}
