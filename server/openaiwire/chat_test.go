package openaiwire_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/server/openaiwire"
)

func reply(resp *llm.Response) llmtest.Reply { return llmtest.Reply{Response: resp} }

func textResponse(text string, u llm.Usage) *llm.Response {
	return &llm.Response{
		Model:      "fake/answerer",
		Content:    []llm.Part{llm.Text{Text: text}},
		StopReason: llm.StopEndTurn,
		Usage:      u,
	}
}

func weatherTool() openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: openai.String("Current weather in a city"),
		Parameters: shared.FunctionParameters{
			"type":       "object",
			"properties": map[string]any{"city": map[string]any{"type": "string"}},
			"required":   []string{"city"},
		},
	})
}

func TestChatPlain(t *testing.T) {
	fake := llmtest.NewModel("fake/model", reply(textResponse("Hello there.", llm.Usage{InputTokens: 10, OutputTokens: 3, CacheReadTokens: 5, CacheWriteTokens: 2})))
	client := serve(t, map[string]llm.Model{"small": fake}, nil, openaiwire.Options{})

	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "small",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Be brief."),
			openai.DeveloperMessage("Answer in English."),
			openai.UserMessage("Hi"),
		},
		Temperature:         openai.Float(0.25),
		TopP:                openai.Float(0.5),
		MaxCompletionTokens: openai.Int(100),
		Stop:                openai.ChatCompletionNewParamsStopUnion{OfString: openai.String("END")},
		User:                openai.String("u-42"),
		Seed:                openai.Int(7),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.ID, "chatcmpl-") || resp.Object != "chat.completion" || resp.Created == 0 {
		t.Errorf("id %q, object %q, created %d", resp.ID, resp.Object, resp.Created)
	}
	if resp.Model != "fake/answerer" {
		t.Errorf("model = %q, want the model that answered", resp.Model)
	}
	if len(resp.Choices) != 1 {
		t.Fatalf("%d choices", len(resp.Choices))
	}
	c := resp.Choices[0]
	if c.Message.Content != "Hello there." || c.Message.Role != "assistant" || c.FinishReason != "stop" {
		t.Errorf("choice = %+v", c)
	}
	if !c.Message.JSON.Refusal.Valid() && c.Message.JSON.Refusal.Raw() != "null" {
		t.Errorf("refusal should be present and null, raw %q", c.Message.JSON.Refusal.Raw())
	}
	u := resp.Usage
	if u.PromptTokens != 17 || u.CompletionTokens != 3 || u.TotalTokens != 20 || u.PromptTokensDetails.CachedTokens != 5 || u.PromptTokensDetails.CacheWriteTokens != 2 {
		t.Errorf("usage = %+v", u)
	}

	got := fake.Requests()[0]
	want := &llm.Request{
		System:        []llm.Text{{Text: "Be brief."}, {Text: "Answer in English."}},
		Messages:      []llm.Message{llm.UserText("Hi")},
		MaxTokens:     100,
		Temperature:   llm.Float(0.25),
		TopP:          llm.Float(0.5),
		StopSequences: []string{"END"},
		Tags:          map[string]string{"user": "u-42"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

// collectStream drains a client stream into the SDK's accumulator and
// returns the raw chunks too.
func collectStream(stream *ssestream.Stream[openai.ChatCompletionChunk]) (openai.ChatCompletionAccumulator, []openai.ChatCompletionChunk, error) {
	var acc openai.ChatCompletionAccumulator
	var chunks []openai.ChatCompletionChunk
	for stream.Next() {
		ch := stream.Current()
		chunks = append(chunks, ch)
		acc.AddChunk(ch)
	}
	return acc, chunks, stream.Err()
}

func TestChatStream(t *testing.T) {
	fake := llmtest.NewModel("fake/model", reply(textResponse("one two three", llm.Usage{InputTokens: 4, OutputTokens: 3, CacheReadTokens: 6})))
	client := serve(t, map[string]llm.Model{"m": fake}, nil, openaiwire.Options{})

	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "m",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("count")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	acc, chunks, err := collectStream(stream)
	if err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.Content; got != "one two three" {
		t.Errorf("content = %q", got)
	}
	if got := acc.Choices[0].FinishReason; got != "stop" {
		t.Errorf("finish_reason = %q", got)
	}
	first := chunks[0]
	if first.Choices[0].Delta.Role != "assistant" || first.Object != "chat.completion.chunk" {
		t.Errorf("first chunk = %s", first.RawJSON())
	}
	ids := map[string]bool{}
	for _, ch := range chunks {
		ids[ch.ID] = true
	}
	if len(ids) != 1 {
		t.Errorf("chunks carry %d ids, want one", len(ids))
	}
	last := chunks[len(chunks)-1]
	if len(last.Choices) != 0 || !last.JSON.Usage.Valid() {
		t.Fatalf("last chunk = %s, want empty choices and usage", last.RawJSON())
	}
	if u := last.Usage; u.PromptTokens != 10 || u.CompletionTokens != 3 || u.TotalTokens != 13 || u.PromptTokensDetails.CachedTokens != 6 {
		t.Errorf("usage = %+v", u)
	}
	for _, ch := range chunks[:len(chunks)-1] {
		if !strings.Contains(ch.RawJSON(), `"usage":null`) {
			t.Errorf("chunk without usage:null under include_usage: %s", ch.RawJSON())
		}
	}
}

func TestChatStreamWithoutUsage(t *testing.T) {
	fake := llmtest.NewModel("fake/model", llmtest.Text("hi"))
	client := serve(t, map[string]llm.Model{"m": fake}, nil, openaiwire.Options{})
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
	})
	_, chunks, err := collectStream(stream)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chunks {
		if strings.Contains(ch.RawJSON(), `"usage"`) {
			t.Errorf("usage sent without include_usage: %s", ch.RawJSON())
		}
	}
	if last := chunks[len(chunks)-1]; last.Choices[0].FinishReason != "stop" {
		t.Errorf("last chunk = %s", last.RawJSON())
	}
}

func toolCallResponse() *llm.Response {
	return &llm.Response{
		Model: "fake/model",
		Content: []llm.Part{
			llm.Text{Text: "Let me look."},
			llm.ToolCall{ID: "call_1", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)},
			llm.ToolCall{ID: "call_2", Name: "get_weather", Input: json.RawMessage(`{"city":"Oslo"}`)},
		},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 20, OutputTokens: 9},
	}
}

func TestChatToolCalls(t *testing.T) {
	fake := llmtest.NewModel("fake/model", reply(toolCallResponse()))
	client := serve(t, map[string]llm.Model{"m": fake}, nil, openaiwire.Options{})
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:             "m",
		Messages:          []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris and Oslo?")},
		Tools:             []openai.ChatCompletionToolUnionParam{weatherTool()},
		ToolChoice:        openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")},
		ParallelToolCalls: openai.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := resp.Choices[0]
	if c.FinishReason != "tool_calls" || c.Message.Content != "Let me look." {
		t.Errorf("choice = %s", c.RawJSON())
	}
	if len(c.Message.ToolCalls) != 2 {
		t.Fatalf("tool calls = %s", c.RawJSON())
	}
	tc := c.Message.ToolCalls[1]
	if tc.ID != "call_2" || tc.Type != "function" || tc.Function.Name != "get_weather" || tc.Function.Arguments != `{"city":"Oslo"}` {
		t.Errorf("tool call = %s", tc.RawJSON())
	}

	req := fake.Requests()[0]
	if req.ToolChoice.Mode != llm.ToolAny {
		t.Errorf("tool choice = %+v", req.ToolChoice)
	}
	if len(req.Tools) != 1 || req.Tools[0].Name != "get_weather" || req.Tools[0].Description != "Current weather in a city" {
		t.Fatalf("tools = %+v", req.Tools)
	}
	var schema map[string]any
	if err := json.Unmarshal(req.Tools[0].InputSchema, &schema); err != nil || schema["type"] != "object" {
		t.Errorf("schema = %s (%v)", req.Tools[0].InputSchema, err)
	}
}

func TestChatToolCallDeltas(t *testing.T) {
	// Arguments arrive in fragments, as a provider streams them.
	evs := []llm.Event{
		{Kind: llm.EventText, Index: 0, Text: "Checking."},
		{Kind: llm.EventToolCallStart, Index: 1, ToolCall: &llm.ToolCall{ID: "call_a", Name: "get_weather"}},
		{Kind: llm.EventToolCallDelta, Index: 1, Text: `{"ci`},
		{Kind: llm.EventToolCallDelta, Index: 1, Text: `ty":"Paris"}`},
		{Kind: llm.EventToolCallEnd, Index: 1},
		{Kind: llm.EventToolCallStart, Index: 2, ToolCall: &llm.ToolCall{ID: "call_b", Name: "get_time"}},
		{Kind: llm.EventToolCallDelta, Index: 2, Text: `{}`},
		{Kind: llm.EventToolCallEnd, Index: 2},
		{Kind: llm.EventDone, Response: &llm.Response{Model: "fake/model", StopReason: llm.StopToolUse}},
	}
	fake := llmtest.NewModel("fake/model", llmtest.Reply{Events: evs})
	client := serve(t, map[string]llm.Model{"m": fake}, nil, openaiwire.Options{})
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		Tools:    []openai.ChatCompletionToolUnionParam{weatherTool()},
	})
	acc, chunks, err := collectStream(stream)
	if err != nil {
		t.Fatal(err)
	}
	var deltas []string
	for _, ch := range chunks {
		for _, c := range ch.Choices {
			for _, tc := range c.Delta.ToolCalls {
				deltas = append(deltas, tc.RawJSON())
			}
		}
	}
	want := []string{
		`{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}`,
		`{"index":0,"function":{"arguments":"{\"ci"}}`,
		`{"index":0,"function":{"arguments":"ty\":\"Paris\"}"}}`,
		`{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":""}}`,
		`{"index":1,"function":{"arguments":"{}"}}`,
	}
	if diff := cmp.Diff(want, deltas); diff != "" {
		t.Errorf("tool-call deltas (-want +got):\n%s", diff)
	}
	msg := acc.Choices[0].Message
	if len(msg.ToolCalls) != 2 || msg.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` || msg.Content != "Checking." {
		t.Errorf("accumulated = %+v", msg)
	}
	if acc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("finish = %q", acc.Choices[0].FinishReason)
	}
}

func TestChatToolRoundTrip(t *testing.T) {
	fake := llmtest.NewModel("fake/model",
		llmtest.ToolCall("call_9", "get_weather", `{"city":"Paris"}`),
		llmtest.Text("It is sunny in Paris."),
	)
	client := serve(t, map[string]llm.Model{"m": fake}, nil, openaiwire.Options{})
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:    "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")},
		Tools:    []openai.ChatCompletionToolUnionParam{weatherTool()},
	}
	first, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	call := first.Choices[0].Message.ToolCalls[0]
	params.Messages = append(params.Messages,
		first.Choices[0].Message.ToParam(),
		openai.ToolMessage(`{"sky":"clear"}`, call.ID),
		openai.UserMessage("Thanks, and briefly?"),
	)
	second, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := second.Choices[0].Message.Content; got != "It is sunny in Paris." {
		t.Errorf("content = %q", got)
	}

	got := fake.Requests()[1].Messages
	want := []llm.Message{
		llm.UserText("Weather in Paris?"),
		llm.Assistant(llm.ToolCall{ID: "call_9", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)}),
		llm.User(
			llm.ToolResult{CallID: "call_9", Content: []llm.Part{llm.Text{Text: `{"sky":"clear"}`}}},
			llm.Text{Text: "Thanks, and briefly?"},
		),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("second request's messages (-want +got):\n%s", diff)
	}
}

func TestChatResponseFormatJSONSchema(t *testing.T) {
	fake := llmtest.NewModel("fake/model", llmtest.Text(`{"name":"Ada"}`))
	client := serve(t, map[string]llm.Model{"m": fake}, nil, openaiwire.Options{})
	_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Who?")},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
				Name:   "person",
				Strict: openai.Bool(true),
				Schema: map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}},
			}},
		},
		ReasoningEffort: shared.ReasoningEffortMedium,
	})
	if err != nil {
		t.Fatal(err)
	}
	req := fake.Requests()[0]
	if req.Output == nil || req.Output.Name != "person" || !req.Output.Strict {
		t.Fatalf("output = %+v", req.Output)
	}
	var schema map[string]any
	if err := json.Unmarshal(req.Output.Schema, &schema); err != nil || schema["type"] != "object" {
		t.Errorf("schema = %s", req.Output.Schema)
	}
	if req.Thinking == nil || req.Thinking.BudgetTokens != 8192 {
		t.Errorf("thinking = %+v", req.Thinking)
	}
}

func TestChatStopReasons(t *testing.T) {
	for _, tc := range []struct {
		stop  llm.StopReason
		calls bool
		want  string
	}{
		{llm.StopEndTurn, false, "stop"},
		{llm.StopSequence, false, "stop"},
		{llm.StopMaxTokens, false, "length"},
		{llm.StopToolUse, true, "tool_calls"},
		{llm.StopEndTurn, true, "tool_calls"}, // Gemini ends tool turns with STOP
		{llm.StopRefusal, false, "content_filter"},
		{llm.StopPauseTurn, false, "stop"},
	} {
		t.Run(string(tc.stop), func(t *testing.T) {
			resp := textResponse("x", llm.Usage{})
			resp.StopReason = tc.stop
			if tc.calls {
				resp.Content = append(resp.Content, llm.ToolCall{ID: "c", Name: "f", Input: json.RawMessage(`{}`)})
			}
			fake := llmtest.NewModel("fake/model", reply(resp), reply(resp))
			client := serve(t, map[string]llm.Model{"m": fake}, nil, openaiwire.Options{})
			params := openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}
			got, err := client.Chat.Completions.New(context.Background(), params)
			if err != nil {
				t.Fatal(err)
			}
			if got.Choices[0].FinishReason != tc.want {
				t.Errorf("finish_reason = %q, want %q", got.Choices[0].FinishReason, tc.want)
			}
			acc, _, err := collectStream(client.Chat.Completions.NewStreaming(context.Background(), params))
			if err != nil {
				t.Fatal(err)
			}
			if acc.Choices[0].FinishReason != tc.want {
				t.Errorf("streamed finish_reason = %q, want %q", acc.Choices[0].FinishReason, tc.want)
			}
		})
	}
}

func TestChatImagesAndFiles(t *testing.T) {
	fake := llmtest.NewModel("fake/model", llmtest.Text("a cat"))
	client := serve(t, map[string]llm.Model{"m": fake}, nil, openaiwire.Options{})
	_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
			openai.TextContentPart("What is in these?"),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64,iVBORw0K"}),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "https://example.com/cat.jpg", Detail: "low"}),
			openai.FileContentPart(openai.ChatCompletionContentPartFileFileParam{FileData: openai.String("data:application/pdf;base64,JVBERi0="), Filename: openai.String("a.pdf")}),
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []llm.Part{
		llm.Text{Text: "What is in these?"},
		llm.Image{MediaType: "image/png", Data: []byte{0x89, 'P', 'N', 'G', '\r', '\n'}},
		llm.Image{URL: "https://example.com/cat.jpg"},
		llm.Document{MediaType: "application/pdf", Data: []byte("%PDF-"), Title: "a.pdf"},
	}
	if diff := cmp.Diff(want, fake.Requests()[0].Messages[0].Parts); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
}
