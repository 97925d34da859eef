package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

func anthropicClient(e *env, key string) anthropic.Client {
	return anthropic.NewClient(aoption.WithBaseURL(e.URL), aoption.WithAPIKey(key), aoption.WithMaxRetries(0))
}

func userText(s string) anthropic.MessageParam {
	return anthropic.NewUserMessage(anthropic.NewTextBlock(s))
}

func TestAnthropicClientPlainAndStreamedToGPT(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := anthropicClient(e, "anything")
	ctx := context.Background()
	e.openai.Enqueue(llmtest.WireReply{Response: &llm.Response{
		Content: []llm.Part{llm.Text{Text: "Blue light scatters."}}, StopReason: llm.StopEndTurn,
		Usage: llm.Usage{InputTokens: 9, OutputTokens: 3},
	}})
	p := anthropic.MessageNewParams{Model: "gpt", MaxTokens: 100, Messages: []anthropic.MessageParam{userText("Why is the sky blue?")}}
	msg, err := c.Messages.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "Blue light scatters." || msg.Usage.InputTokens != 9 {
		t.Errorf("message = %+v", msg)
	}

	p.Messages = []anthropic.MessageParam{userText("echo this back")}
	stream := c.Messages.NewStreaming(ctx, p)
	var acc anthropic.Message
	sawStop := false
	for stream.Next() {
		ev := stream.Current()
		if err := acc.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
		sawStop = sawStop || ev.Type == "message_stop"
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if !sawStop || len(acc.Content) == 0 || acc.Content[0].Text != "echo this back" {
		t.Errorf("streamed: stop %v, content %+v", sawStop, acc.Content)
	}
}

// TestToolRoundTripsAcrossProtocols: an OpenAI client drives a tool call
// through Claude, and an Anthropic client through GPT; each sends the
// tool's result back and the upstream receives it in its own format.
func TestToolRoundTripsAcrossProtocols(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	call := &llm.Response{
		Content:    []llm.Part{llm.Text{Text: "Let me look."}, llm.ToolCall{ID: "toolu_01", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)}},
		StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 20, OutputTokens: 10},
	}
	final := &llm.Response{Content: []llm.Part{llm.Text{Text: "It is sunny in Paris."}}, StopReason: llm.StopEndTurn,
		Usage: llm.Usage{InputTokens: 30, OutputTokens: 6}}

	t.Run("openai client, claude upstream", func(t *testing.T) {
		e.anthropic.Enqueue(llmtest.WireReply{Response: call}, llmtest.WireReply{Response: final})
		oc := openaiClient(e, "anything")
		tool := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "get_weather", Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		})
		params := openai.ChatCompletionNewParams{
			Model:    "claude",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")},
			Tools:    []openai.ChatCompletionToolUnionParam{tool},
		}
		resp, err := oc.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		tc := resp.Choices[0].Message.ToolCalls
		if resp.Choices[0].FinishReason != "tool_calls" || len(tc) != 1 || tc[0].Function.Name != "get_weather" ||
			tc[0].Function.Arguments != `{"city":"Paris"}` {
			t.Fatalf("tool call = %+v", resp.Choices[0])
		}
		params.Messages = append(params.Messages, resp.Choices[0].Message.ToParam(), openai.ToolMessage("sunny, 24°C", tc[0].ID))
		resp, err = oc.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Choices[0].Message.Content != "It is sunny in Paris." {
			t.Errorf("final = %q", resp.Choices[0].Message.Content)
		}
		reqs := e.anthropic.Requests()
		last := string(reqs[len(reqs)-1].Body)
		if !strings.Contains(last, `"tool_result"`) || !strings.Contains(last, `"tool_use_id":"toolu_01"`) || !strings.Contains(last, "sunny, 24°C") {
			t.Errorf("Claude did not get the tool result: %s", last)
		}
	})

	t.Run("anthropic client, gpt upstream", func(t *testing.T) {
		e.openai.Enqueue(llmtest.WireReply{Response: call}, llmtest.WireReply{Response: final})
		ac := anthropicClient(e, "anything")
		params := anthropic.MessageNewParams{
			Model: "gpt", MaxTokens: 200,
			Messages: []anthropic.MessageParam{userText("Weather in Paris?")},
			Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather",
				InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}}}}},
		}
		msg, err := ac.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		var use *anthropic.ContentBlockUnion
		for i := range msg.Content {
			if msg.Content[i].Type == "tool_use" {
				use = &msg.Content[i]
			}
		}
		if msg.StopReason != anthropic.StopReasonToolUse || use == nil || use.Name != "get_weather" || string(use.Input) != `{"city":"Paris"}` {
			t.Fatalf("message = %+v", msg)
		}
		params.Messages = append(params.Messages, msg.ToParam(),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, "sunny, 24°C", false)))
		msg, err = ac.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Content[0].Text != "It is sunny in Paris." {
			t.Errorf("final = %+v", msg.Content)
		}
		reqs := e.openai.Requests()
		last := string(reqs[len(reqs)-1].Body)
		if !strings.Contains(last, `"role":"tool"`) || !strings.Contains(last, `"tool_call_id":"toolu_01"`) || !strings.Contains(last, "sunny, 24°C") {
			t.Errorf("GPT did not get the tool result: %s", last)
		}
	})
}

func TestSDKErrorTypes(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *config.Config) { c.Limits.MaxAttempts = 1 }})
	ctx := context.Background()
	secret, _ := e.key("alice", 0, 0)

	// Refusals by the server: the SDKs' own error types and statuses.
	badA, badO := anthropicClient(e, "keel_wrong"), openaiClient(e, "keel_wrong")
	goodA, goodO := anthropicClient(e, secret), openaiClient(e, secret)
	_, err := badA.Messages.New(ctx, anthropic.MessageNewParams{
		Model: "claude", MaxTokens: 10, Messages: []anthropic.MessageParam{userText("hi")}})
	var aerr *anthropic.Error
	if !errors.As(err, &aerr) || aerr.StatusCode != http.StatusUnauthorized {
		t.Errorf("anthropic, bad key: %v", err)
	}
	_, err = badO.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "gpt", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var oerr *openai.Error
	if !errors.As(err, &oerr) || oerr.StatusCode != http.StatusUnauthorized {
		t.Errorf("openai, bad key: %v", err)
	}

	// An upstream's rate limit reaches the client as the client's 429,
	// across protocols.
	e.openai.Enqueue(llmtest.WireReply{Fault: llmtest.Fault{Status: 429, Header: http.Header{"Retry-After": {"7"}}}})
	_, err = goodA.Messages.New(ctx, anthropic.MessageNewParams{
		Model: "gpt", MaxTokens: 10, Messages: []anthropic.MessageParam{userText("hi")}})
	if !errors.As(err, &aerr) || aerr.StatusCode != http.StatusTooManyRequests {
		t.Errorf("anthropic client, OpenAI upstream 429: %v", err)
	}
	e.anthropic.Enqueue(llmtest.WireReply{Fault: llmtest.Fault{Status: 500}})
	_, err = goodO.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "claude", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if !errors.As(err, &oerr) || oerr.StatusCode < 500 {
		t.Errorf("openai client, Anthropic upstream 500: %v", err)
	}
}
