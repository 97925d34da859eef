package anthropicwire_test

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"
	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
	"github.com/keelai/keel/provider/openai"
	"github.com/keelai/keel/server/anthropicwire"
)

func params(model string, msgs ...anthropic.MessageParam) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 256, Messages: msgs}
}

func TestPlainAndStreamedOnFake(t *testing.T) {
	fake := llmtest.NewModel("fake/model")
	reply := &llm.Response{
		Content:    []llm.Part{llm.Text{Text: "The sky scatters blue light."}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 12, OutputTokens: 6},
	}
	fake.Enqueue(llmtest.Reply{Response: reply}, llmtest.Reply{Response: reply})
	e := newEnv(t, models{"fake/model": fake}, anthropicwire.Options{})

	p := params("fake/model", userText("Why is the sky blue?"))
	p.System = []anthropic.TextBlockParam{{Text: "Be brief."}}
	p.StopSequences = []string{"END"}
	p.Metadata = anthropic.MetadataParam{UserID: param.NewOpt("user-7")}

	got, err := e.client.Messages.New(t.Context(), p)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if len(got.Content) != 1 || got.Content[0].Type != "text" || got.Content[0].Text != "The sky scatters blue light." {
		t.Errorf("content = %+v", got.Content)
	}
	if got.StopReason != anthropic.StopReasonEndTurn || got.Model != "fake/model" || !strings.HasPrefix(got.ID, "msg_") || got.Role != "assistant" {
		t.Errorf("message = id %q model %q stop %q role %q", got.ID, got.Model, got.StopReason, got.Role)
	}
	if got.Usage.InputTokens != 12 || got.Usage.OutputTokens != 6 {
		t.Errorf("usage = %+v", got.Usage)
	}

	streamed, err := e.stream(t, p)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	if streamed.Content[0].Text != got.Content[0].Text || streamed.StopReason != got.StopReason || streamed.Usage.OutputTokens != 6 {
		t.Errorf("streamed = %+v, want the same as unstreamed", streamed)
	}

	reqs := fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("fake got %d requests, want 2", len(reqs))
	}
	want := &llm.Request{
		System:        []llm.Text{{Text: "Be brief."}},
		Messages:      []llm.Message{llm.UserText("Why is the sky blue?")},
		MaxTokens:     256,
		StopSequences: []string{"END"},
		Tags:          map[string]string{"user_id": "user-7"},
	}
	for _, r := range reqs {
		if diff := cmp.Diff(want, r); diff != "" {
			t.Errorf("llm.Request (-want +got):\n%s", diff)
		}
	}
}

// TestStreamEventSequence checks the events on the wire: one message_start,
// blocks opened in order with dense indexes and closed, message_delta and
// message_stop last.
func TestStreamEventSequence(t *testing.T) {
	fake := llmtest.NewModel("fake/model", llmtest.Reply{Response: &llm.Response{
		Content: []llm.Part{
			llm.Thinking{Text: "Look it up.", Signature: "sig-1"},
			llm.Text{Text: "Checking."},
			llm.ToolCall{ID: "toolu_1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)},
		},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 3, OutputTokens: 9},
	}})
	e := newEnv(t, models{"fake/model": fake}, anthropicwire.Options{})
	evs := e.events(t, `{"model":"fake/model","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"weather?"}]}`)

	var seq []string
	starts := 0
	for _, ev := range evs {
		if ev.data["type"] != ev.name {
			t.Errorf("event %q carries type %v", ev.name, ev.data["type"])
		}
		switch ev.name {
		case "message_start":
			starts++
			seq = append(seq, "message_start")
		case "content_block_start":
			cb := ev.data["content_block"].(map[string]any)
			seq = append(seq, "start:"+cb["type"].(string)+"@"+num(ev.data["index"]))
		case "content_block_delta":
			seq = append(seq, "delta:"+ev.data["delta"].(map[string]any)["type"].(string)+"@"+num(ev.data["index"]))
		case "content_block_stop":
			seq = append(seq, "stop@"+num(ev.data["index"]))
		default:
			seq = append(seq, ev.name)
		}
	}
	if starts != 1 {
		t.Errorf("%d message_start events, want exactly 1", starts)
	}
	got := strings.Join(compress(seq), " ")
	want := "message_start start:thinking@0 delta:thinking_delta@0 delta:signature_delta@0 stop@0 " +
		"start:text@1 delta:text_delta@1 stop@1 start:tool_use@2 delta:input_json_delta@2 stop@2 message_delta message_stop"
	if got != want {
		t.Errorf("event sequence:\n got %s\nwant %s", got, want)
	}
	md := evs[len(evs)-2].data
	if d := md["delta"].(map[string]any); d["stop_reason"] != "tool_use" || d["stop_sequence"] != nil {
		t.Errorf("message_delta.delta = %v", d)
	}
}

func num(v any) string {
	f, _ := v.(float64)
	return string(rune('0' + int(f)))
}

// compress folds runs of the same event into one, since how many deltas a
// part is split into is the fake's business.
func compress(s []string) []string {
	var out []string
	for _, x := range s {
		if len(out) == 0 || out[len(out)-1] != x {
			out = append(out, x)
		}
	}
	return out
}

func TestTextBeforeToolUse(t *testing.T) {
	reply := &llm.Response{
		Content: []llm.Part{
			llm.Text{Text: "Let me check the weather."},
			llm.ToolCall{ID: "toolu_9", Name: "weather", Input: json.RawMessage(`{"city": "Oslo"}`)},
		},
		StopReason: llm.StopToolUse,
	}
	fake := llmtest.NewModel("fake/model", llmtest.Reply{Response: reply}, llmtest.Reply{Response: reply})
	e := newEnv(t, models{"fake/model": fake}, anthropicwire.Options{})
	p := params("fake/model", userText("Weather in Oslo?"))

	plain, err := e.client.Messages.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	streamed, err := e.stream(t, p)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]anthropic.Message{"plain": *plain, "streamed": streamed} {
		if len(m.Content) != 2 {
			t.Fatalf("%s: %d blocks, want text then tool_use", name, len(m.Content))
		}
		if m.Content[0].Type != "text" || m.Content[0].Text != "Let me check the weather." {
			t.Errorf("%s: block 0 = %+v", name, m.Content[0])
		}
		tu := m.Content[1]
		var input map[string]string
		if err := json.Unmarshal(tu.Input, &input); err != nil || input["city"] != "Oslo" {
			t.Errorf("%s: tool input %s (%v)", name, tu.Input, err)
		}
		if tu.Type != "tool_use" || tu.ID != "toolu_9" || tu.Name != "weather" {
			t.Errorf("%s: block 1 = type %q id %q name %q input %s", name, tu.Type, tu.ID, tu.Name, tu.Input)
		}
		if m.StopReason != anthropic.StopReasonToolUse {
			t.Errorf("%s: stop reason %q", name, m.StopReason)
		}
	}
}

func TestToolRoundTrip(t *testing.T) {
	fake := llmtest.NewModel("fake/model",
		llmtest.ToolCall("toolu_1", "weather", `{"city":"Oslo"}`),
		llmtest.Text("It is 4°C in Oslo."),
	)
	e := newEnv(t, models{"fake/model": fake}, anthropicwire.Options{})
	tools := []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
		Name:        "weather",
		Description: param.NewOpt("Current weather in a city"),
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}},
	}}}
	p := params("fake/model", userText("Weather in Oslo?"))
	p.Tools = tools
	p.ToolChoice = anthropic.ToolChoiceUnionParam{OfAuto: &anthropic.ToolChoiceAutoParam{DisableParallelToolUse: param.NewOpt(true)}}

	first, err := e.client.Messages.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if first.StopReason != anthropic.StopReasonToolUse || first.Content[0].Type != "tool_use" {
		t.Fatalf("first answer = %+v", first)
	}
	call := first.Content[0]
	p.Messages = append(p.Messages, first.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock(call.ID, "4°C, cloudy", false)))
	second, err := e.stream(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if second.Content[0].Text != "It is 4°C in Oslo." || second.StopReason != anthropic.StopReasonEndTurn {
		t.Errorf("second answer = %+v", second)
	}

	got := fake.Requests()[1]
	if len(got.Tools) != 1 || got.Tools[0].Name != "weather" || got.Tools[0].Description != "Current weather in a city" {
		t.Errorf("tools = %+v", got.Tools)
	}
	var schema map[string]any
	if err := json.Unmarshal(got.Tools[0].InputSchema, &schema); err != nil || schema["type"] != "object" {
		t.Errorf("input_schema = %s (%v)", got.Tools[0].InputSchema, err)
	}
	wantMsgs := []llm.Message{
		llm.UserText("Weather in Oslo?"),
		llm.Assistant(llm.ToolCall{ID: "toolu_1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)}),
		llm.User(llm.ToolResult{CallID: "toolu_1", Content: []llm.Part{llm.Text{Text: "4°C, cloudy"}}}),
	}
	if diff := cmp.Diff(wantMsgs, got.Messages); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestThinkingWithSignatures(t *testing.T) {
	reply := &llm.Response{
		Content: []llm.Part{
			llm.Thinking{Text: "The user wants a number.", Signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"},
			llm.Thinking{Redacted: "EmwKAhgBEgy3va3pzix/LafPsn4a"},
			llm.Text{Text: "42"},
		},
		StopReason: llm.StopEndTurn,
	}
	fake := llmtest.NewModel("fake/model", llmtest.Reply{Response: reply}, llmtest.Reply{Response: reply}, llmtest.Text("ok"))
	e := newEnv(t, models{"fake/model": fake}, anthropicwire.Options{})
	p := params("fake/model", userText("A number?"))
	p.MaxTokens = 4096
	p.Thinking = anthropic.ThinkingConfigParamUnion{OfEnabled: &anthropic.ThinkingConfigEnabledParam{BudgetTokens: 2048}}

	plain, err := e.client.Messages.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	streamed, err := e.stream(t, p)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]anthropic.Message{"plain": *plain, "streamed": streamed} {
		if len(m.Content) != 3 {
			t.Fatalf("%s: %d blocks, want 3", name, len(m.Content))
		}
		th, red := m.Content[0], m.Content[1]
		if th.Type != "thinking" || th.Thinking != "The user wants a number." || th.Signature != "EqQBCgIYAhIM1gbcDa9GJwZA2b3h" {
			t.Errorf("%s: thinking = %+v", name, th)
		}
		if red.Type != "redacted_thinking" || red.Data != "EmwKAhgBEgy3va3pzix/LafPsn4a" {
			t.Errorf("%s: redacted = %+v", name, red)
		}
	}
	if got := fake.Requests()[0].Thinking; got == nil || got.BudgetTokens != 2048 {
		t.Errorf("thinking config = %+v", got)
	}

	// Sent back, both blocks reach the model unchanged.
	p.Messages = append(p.Messages, streamed.ToParam(), userText("Why?"))
	if _, err := e.client.Messages.New(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	back := fake.Requests()[2].Messages[1].Parts
	want := []llm.Part{reply.Content[0], reply.Content[1], llm.Text{Text: "42"}}
	if diff := cmp.Diff(want, back); diff != "" {
		t.Errorf("assistant turn sent back (-want +got):\n%s", diff)
	}
}

func TestCacheControlReachesModel(t *testing.T) {
	fake := llmtest.NewModel("fake/model", llmtest.Text("ok"))
	e := newEnv(t, models{"fake/model": fake}, anthropicwire.Options{})
	body := `{"model":"fake/model","max_tokens":50,
	 "system":[{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}}],
	 "tools":[{"name":"weather","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral","ttl":"1h"}}],
	 "messages":[
	  {"role":"user","content":[{"type":"text","text":"Oslo?"}]},
	  {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Oslo"},"cache_control":{"type":"ephemeral","ttl":"5m"}}]},
	  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"4°C"}],"is_error":true,"cache_control":{"type":"ephemeral"}},
	                            {"type":"text","text":"and now?"}]}],
	 "cache_control":{"type":"ephemeral"}}`
	resp, b := e.post(t, "/v1/messages", body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	got := fake.Requests()[0]
	five, hour, dflt := &llm.CacheControl{TTL: llm.CacheTTL5m}, &llm.CacheControl{TTL: llm.CacheTTL1h}, &llm.CacheControl{}
	if diff := cmp.Diff([]llm.Text{{Text: "You are terse.", Cache: dflt}}, got.System); diff != "" {
		t.Errorf("system (-want +got):\n%s", diff)
	}
	if got.Tools[0].Cache == nil || *got.Tools[0].Cache != *hour {
		t.Errorf("tool cache = %v, want 1h", got.Tools[0].Cache)
	}
	if c := llm.CacheOf(got.Messages[1].Parts[0]); c == nil || *c != *five {
		t.Errorf("tool_use cache = %v, want 5m", c)
	}
	tr := got.Messages[2].Parts[0].(llm.ToolResult)
	if tr.Cache == nil || !tr.IsError {
		t.Errorf("tool_result = %+v, want a breakpoint and is_error", tr)
	}
	// The top-level cache_control lands on the request's last block.
	if c := llm.CacheOf(got.Messages[2].Parts[1]); c == nil {
		t.Errorf("last block carries no breakpoint from the top-level cache_control")
	}
	if c := llm.CacheOf(got.Messages[0].Parts[0]); c != nil {
		t.Errorf("first block carries %v, want none", c)
	}
}

func TestUsageSameStreamedAndNot(t *testing.T) {
	u := llm.Usage{InputTokens: 10, OutputTokens: 5, CacheReadTokens: 100, CacheWriteTokens: 20, CacheWrite1hTokens: 30}
	reply := &llm.Response{Content: []llm.Part{llm.Text{Text: "cached answer"}}, StopReason: llm.StopEndTurn, Usage: u}
	fake := llmtest.NewModel("fake/model")
	for range 3 {
		fake.Enqueue(llmtest.Reply{Response: reply})
	}
	e := newEnv(t, models{"fake/model": fake}, anthropicwire.Options{})
	p := params("fake/model", userText("hi"))

	plain, err := e.client.Messages.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	streamed, err := e.stream(t, p)
	if err != nil {
		t.Fatal(err)
	}
	type classes struct{ In, Out, Read, Write, W5m, W1h int64 }
	of := func(u anthropic.Usage) classes {
		return classes{u.InputTokens, u.OutputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens, u.CacheCreation.Ephemeral5mInputTokens, u.CacheCreation.Ephemeral1hInputTokens}
	}
	want := classes{10, 5, 100, 50, 20, 30}
	if got := of(plain.Usage); got != want {
		t.Errorf("unstreamed usage = %+v, want %+v", got, want)
	}
	// The SDK takes the cache split from message_start only, which is sent
	// before a cross-protocol upstream has counted anything: compare the
	// totals, and read the split off the wire below.
	got := of(streamed.Usage)
	got.W5m, got.W1h = 20, 30
	if got != want {
		t.Errorf("streamed usage = %+v, want %+v", of(streamed.Usage), want)
	}
	evs := e.events(t, `{"model":"fake/model","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	usage := evs[len(evs)-2].data["usage"].(map[string]any)
	cc := usage["cache_creation"].(map[string]any)
	if usage["input_tokens"] != 10.0 || usage["cache_read_input_tokens"] != 100.0 || usage["cache_creation_input_tokens"] != 50.0 ||
		cc["ephemeral_5m_input_tokens"] != 20.0 || cc["ephemeral_1h_input_tokens"] != 30.0 || usage["output_tokens"] != 5.0 {
		t.Errorf("message_delta usage = %v", usage)
	}
}

// openAIEnv puts the gateway in front of provider/openai pointed at the
// OpenAI emulator: an Anthropic client reaching an OpenAI model.
func openAIEnv(t *testing.T) (*env, *openaitest.Server) {
	t.Helper()
	srv := openaitest.NewServer(t)
	m := openai.New(openai.Options{APIKey: "sk-test", BaseURL: srv.URL}).Model("gpt-4.1-mini")
	return newEnv(t, models{"openai/gpt-4.1-mini": m}, anthropicwire.Options{}), srv
}

func TestCrossProtocolOpenAI(t *testing.T) {
	e, srv := openAIEnv(t)
	reply := &llm.Response{Content: []llm.Part{llm.Text{Text: "Hello from GPT."}}, StopReason: llm.StopEndTurn,
		Usage: llm.Usage{InputTokens: 7, OutputTokens: 4, CacheReadTokens: 3}}
	srv.Enqueue(llmtest.WireReply{Response: reply}, llmtest.WireReply{Response: reply})
	p := params("openai/gpt-4.1-mini", userText("Hi"))
	p.System = []anthropic.TextBlockParam{{Text: "Be kind."}}

	plain, err := e.client.Messages.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	streamed, err := e.stream(t, p)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]anthropic.Message{"plain": *plain, "streamed": streamed} {
		if len(m.Content) != 1 || m.Content[0].Text != "Hello from GPT." || m.StopReason != anthropic.StopReasonEndTurn {
			t.Errorf("%s: %+v", name, m)
		}
		if m.Usage.InputTokens != 7 || m.Usage.CacheReadInputTokens != 3 || m.Usage.OutputTokens != 4 {
			t.Errorf("%s: usage %+v, want input 7 (cache reads apart), read 3, output 4", name, m.Usage)
		}
	}
	var sent struct {
		Messages []struct{ Role, Content string }
	}
	if err := json.Unmarshal(srv.Requests()[0].Body, &sent); err != nil || len(sent.Messages) != 2 || sent.Messages[0].Role != "system" {
		t.Errorf("OpenAI request = %s (%v)", srv.Requests()[0].Body, err)
	}
}

func TestCrossProtocolOpenAIToolRoundTrip(t *testing.T) {
	e, srv := openAIEnv(t)
	srv.Enqueue(
		llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{
			llm.Text{Text: "Checking."},
			llm.ToolCall{ID: "call_1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)},
		}, StopReason: llm.StopToolUse}},
		llmtest.WireReply{Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "4°C."}}, StopReason: llm.StopEndTurn}},
	)
	p := params("openai/gpt-4.1-mini", userText("Weather in Oslo?"))
	p.Tools = []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "weather",
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}}}}}

	first, err := e.stream(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Content) != 2 || first.Content[1].Type != "tool_use" || first.Content[1].Name != "weather" ||
		string(first.Content[1].Input) != `{"city":"Oslo"}` || first.StopReason != anthropic.StopReasonToolUse {
		t.Fatalf("first = %+v", first)
	}
	p.Messages = append(p.Messages, first.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock(first.Content[1].ID, "4°C", false)))
	second, err := e.client.Messages.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if second.Content[0].Text != "4°C." {
		t.Errorf("second = %+v", second)
	}
	var sent struct {
		Messages []struct {
			Role       string `json:"role"`
			ToolCallID string `json:"tool_call_id"`
			ToolCalls  []struct {
				ID string `json:"id"`
			} `json:"tool_calls"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(srv.Requests()[1].Body, &sent); err != nil {
		t.Fatal(err)
	}
	last := sent.Messages[len(sent.Messages)-1]
	prev := sent.Messages[len(sent.Messages)-2]
	if last.Role != "tool" || last.ToolCallID != first.Content[1].ID || len(prev.ToolCalls) != 1 || prev.ToolCalls[0].ID != first.Content[1].ID {
		t.Errorf("OpenAI tool turn = %s", srv.Requests()[1].Body)
	}
}

func TestErrors(t *testing.T) {
	fail := func(kind llm.ErrorKind, status int, retry time.Duration) llmtest.Reply {
		return llmtest.Reply{Err: &llm.Error{Kind: kind, Status: status, Message: "upstream says no", RetryAfter: retry}}
	}
	fake := llmtest.NewModel("fake/model",
		fail(llm.KindRateLimited, 429, 7*time.Second),
		fail(llm.KindOverloaded, 529, 0),
		fail(llm.KindRateLimited, 429, 1500*time.Millisecond),
		fail(llm.KindPermission, 402, 0),
	)
	e := newEnv(t, models{"fake/model": fake}, anthropicwire.Options{MaxRequestBytes: 4096})
	p := params("fake/model", userText("hi"))

	check := func(name string, err error, status int, typ, msg string) *anthropic.Error {
		t.Helper()
		var ae *anthropic.Error
		if !errors.As(err, &ae) {
			t.Fatalf("%s: error %v (%T), want *anthropic.Error", name, err, err)
		}
		if ae.StatusCode != status || string(ae.Type()) != typ || !strings.Contains(ae.Message, msg) {
			t.Errorf("%s: status %d type %q message %q; want %d %q containing %q", name, ae.StatusCode, ae.Type(), ae.Message, status, typ, msg)
		}
		if ae.RequestID == "" {
			t.Errorf("%s: no request-id", name)
		}
		return ae
	}

	ae := check("429", errOf(e.client.Messages.New(t.Context(), p)), 429, "rate_limit_error", "upstream says no")
	if got := ae.Response.Header.Get("retry-after"); got != "7" {
		t.Errorf("retry-after = %q, want 7", got)
	}
	check("529", errOf(e.client.Messages.New(t.Context(), p)), 529, "overloaded_error", "upstream says no")
	// Refused before its first event, a stream gets the status too.
	_, err := e.stream(t, p)
	ae = check("429 streamed", err, 429, "rate_limit_error", "upstream says no")
	if got := ae.Response.Header.Get("retry-after"); got != "2" {
		t.Errorf("streamed retry-after = %q, want 2 (1.5s rounded up)", got)
	}

	check("402", errOf(e.client.Messages.New(t.Context(), p)), 402, "billing_error", "upstream says no")
	check("404", errOf(e.client.Messages.New(t.Context(), params("nope/model", userText("hi")))), 404, "not_found_error", "model: nope/model")
	check("413", errOf(e.client.Messages.New(t.Context(), params("fake/model", userText(strings.Repeat("x", 5000))))), 413, "request_too_large", "exceeds")

	extra := param.Override[anthropic.MessageNewParams](json.RawMessage(`{"model":"fake/model","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"foo":1}`))
	check("unknown field", errOf(e.client.Messages.New(t.Context(), extra)), 400, "invalid_request_error", "foo: Extra inputs are not permitted")
}

func errOf(_ *anthropic.Message, err error) error { return err }

// TestDecodeErrors checks the 400s of malformed requests over raw HTTP:
// status, Anthropic's body, and a message naming the field.
func TestDecodeErrors(t *testing.T) {
	e := newEnv(t, models{"fake/model": llmtest.NewEcho("fake/model")}, anthropicwire.Options{})
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	for _, tc := range []struct{ body, want string }{
		{`{"model":"fake/model",` + msgs + `}`, "max_tokens: Field required"},
		{`{"max_tokens":5,` + msgs + `}`, "model: Field required"},
		{`{"model":"fake/model","max_tokens":"5",` + msgs + `}`, "max_tokens: Input should be a valid integer"},
		{`{"model":"fake/model","max_tokens":5,"messages":[]}`, "messages: at least one message"},
		{`{"model":"fake/model","max_tokens":5,"messages":[{"role":"system","content":"hi"}]}`, "messages.0.role: Input should be 'user' or 'assistant'"},
		{`{"model":"fake/model","max_tokens":5,"messages":[{"role":"user","content":5}]}`, "messages.0.content: Input should be a valid string or a list"},
		{`{"model":"fake/model","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x","bar":2}]}]}`, "messages.0.content.0.bar: Extra inputs are not permitted"},
		{`{"model":"fake/model","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x","signature":"s"}]}]}`, "messages.0.content.0.text.signature: Extra inputs are not permitted"},
		{`{"model":"fake/model","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"!!"}}]}]}`, "messages.0.content.0.source.data: invalid base64"},
		{`{"model":"fake/model","max_tokens":5,"messages":[{"role":"user","content":[{"type":"server_tool_use","id":"x"}]}]}`, `messages.0.content.0.type: block type "server_tool_use" is not supported`},
		{`{"model":"fake/model","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"b","input":{}}]}]}`, "tool_use blocks are only accepted in assistant messages"},
		{`{"model":"fake/model","max_tokens":5,` + msgs + `,"tools":[{"name":"a","input_schema":{},"zzz":1}]}`, "tools.0.zzz: Extra inputs are not permitted"},
		{`{"model":"fake/model","max_tokens":5,` + msgs + `,"tools":[{"name":"a","input_schema":{}},{"type":"web_search_20250305","name":"web_search","max_uses":3}]}`, `tools.1.type: server tool "web_search_20250305" is not supported`},
		{`{"model":"fake/model","max_tokens":5,` + msgs + `,"tools":[{"name":"a"}]}`, "tools.0.input_schema: Field required"},
		{`{"model":"fake/model","max_tokens":5,` + msgs + `,"tool_choice":{"type":"tool"}}`, "tool_choice.name: Field required"},
		{`{"model":"fake/model","max_tokens":5,` + msgs + `,"thinking":{"type":"enabled"}}`, "thinking.enabled.budget_tokens: Field required"},
		{`{"model":"fake/model","max_tokens":5,` + msgs + `,"cache_control":{"type":"persistent"}}`, "cache_control.type: Input should be 'ephemeral'"},
		{`{"model":"fake/model","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","ttl":"2h"}}]}]}`, "messages.0.content.0.cache_control.ttl: Input should be '5m' or '1h'"},
		{`{"model":"fake/model","max_tokens":5,"messages":[{"role":"user","content":"hi"`, "invalid JSON"},
	} {
		resp, b := e.post(t, "/v1/messages", tc.body)
		var body struct {
			Type  string `json:"type"`
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("%s: body %s: %v", tc.body, b, err)
		}
		if resp.StatusCode != 400 || body.Type != "error" || body.Error.Type != "invalid_request_error" || !strings.Contains(body.Error.Message, tc.want) || body.RequestID == "" {
			t.Errorf("%s\n got %d %s\nwant 400 invalid_request_error containing %q", tc.body, resp.StatusCode, b, tc.want)
		}
	}
}

func TestStreamBrokenMidway(t *testing.T) {
	t.Run("upstream error", func(t *testing.T) {
		fake := llmtest.NewModel("fake/model", llmtest.Reply{
			Events: []llm.Event{{Kind: llm.EventText, Text: "Half an "}, {Kind: llm.EventText, Text: "answer"}},
			Err:    &llm.Error{Kind: llm.KindOverloaded, Message: "overloaded mid-way"},
		})
		e := newEnv(t, models{"fake/model": fake}, anthropicwire.Options{})
		_, err := e.stream(t, params("fake/model", userText("hi")))
		var ae *anthropic.Error
		if !errors.As(err, &ae) || string(ae.Type()) != "overloaded_error" || !strings.Contains(ae.Message, "overloaded mid-way") {
			t.Errorf("stream error = %v, want the overloaded_error event", err)
		}
	})
	t.Run("stream ends without done", func(t *testing.T) {
		fake := llmtest.NewModel("fake/model", llmtest.Reply{Events: []llm.Event{{Kind: llm.EventText, Text: "Half"}}})
		e := newEnv(t, models{"fake/model": fake}, anthropicwire.Options{})
		evs := e.events(t, `{"model":"fake/model","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
		if got := names(evs); got != "message_start content_block_start content_block_delta error" {
			t.Errorf("events = %s, want the partial answer then an error event, no message_stop", got)
		}
	})
	t.Run("openai upstream dropped", func(t *testing.T) {
		e, srv := openAIEnv(t)
		srv.Enqueue(llmtest.WireReply{
			Response: &llm.Response{Content: []llm.Part{llm.Text{Text: "one two three four five six"}}},
			Fault:    llmtest.Fault{Drop: true, DropAfter: 3},
		})
		msg, err := e.stream(t, params("openai/gpt-4.1-mini", userText("count")))
		if err == nil {
			t.Fatalf("stream cut upstream ended as success: %+v", msg)
		}
		if msg.StopReason != "" {
			t.Errorf("cut stream has a stop reason %q", msg.StopReason)
		}
	})
}

// counting is a fake that counts tokens exactly, as Anthropic's and
// Gemini's adapters do.
type counting struct{ *llmtest.Model }

func (counting) CountTokens(_ context.Context, req *llm.Request) (int, error) {
	return 1000 + len(req.Messages) + len(req.Tools), nil
}

func TestCountTokens(t *testing.T) {
	e := newEnv(t, models{
		"counting/model": counting{llmtest.NewEcho("counting/model")},
		"fake/model":     llmtest.NewEcho("fake/model"),
	}, anthropicwire.Options{})
	tools := []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "t", InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{}}}}}
	exact, err := e.client.Messages.CountTokens(t.Context(), anthropic.MessageCountTokensParams{
		Model: "counting/model", Messages: []anthropic.MessageParam{userText("hi")}, Tools: toolsOf(tools),
	})
	if err != nil {
		t.Fatal(err)
	}
	if exact.InputTokens != 1002 {
		t.Errorf("exact count = %d, want the model's own 1002", exact.InputTokens)
	}
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 40)
	short, err1 := e.client.Messages.CountTokens(t.Context(), anthropic.MessageCountTokensParams{Model: "fake/model", Messages: []anthropic.MessageParam{userText("hi")}})
	big, err2 := e.client.Messages.CountTokens(t.Context(), anthropic.MessageCountTokensParams{Model: "fake/model", Messages: []anthropic.MessageParam{userText(long)}})
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if short.InputTokens <= 0 || big.InputTokens < 300 || big.InputTokens <= short.InputTokens {
		t.Errorf("estimated counts = %d (short), %d (400 words), want positive and growing with the text", short.InputTokens, big.InputTokens)
	}
	resp, b := e.post(t, "/v1/messages/count_tokens", `{"model":"fake/model","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "max_tokens: Extra inputs are not permitted") {
		t.Errorf("count_tokens with max_tokens: %d %s", resp.StatusCode, b)
	}
}

func toolsOf(ts []anthropic.ToolUnionParam) []anthropic.MessageCountTokensToolUnionParam {
	out := make([]anthropic.MessageCountTokensToolUnionParam, len(ts))
	for i, t := range ts {
		out[i] = anthropic.MessageCountTokensToolUnionParam{OfTool: t.OfTool}
	}
	return out
}

func TestModels(t *testing.T) {
	e := newEnv(t, models{"fake/model": llmtest.NewEcho("fake/model"), "openai/gpt-4.1-mini": llmtest.NewEcho("x")}, anthropicwire.Options{})
	var ids []string
	iter := e.client.Models.ListAutoPaging(t.Context(), anthropic.ModelListParams{Limit: param.NewOpt[int64](1)})
	for iter.Next() {
		m := iter.Current()
		ids = append(ids, m.ID)
		if m.DisplayName != m.ID || m.CreatedAt.Year() != 2026 || m.Type != "model" {
			t.Errorf("model = %+v", m)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"fake/model", "openai/gpt-4.1-mini"}, ids); diff != "" {
		t.Errorf("ids, paged one by one (-want +got):\n%s", diff)
	}
	one, err := e.client.Models.Get(t.Context(), "openai/gpt-4.1-mini", anthropic.ModelGetParams{})
	if err != nil || one.ID != "openai/gpt-4.1-mini" {
		t.Errorf("Get = %+v, %v", one, err)
	}
	_, err = e.client.Models.Get(t.Context(), "nope", anthropic.ModelGetParams{})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
		t.Errorf("Get unknown = %v, want 404", err)
	}
}

// TestInterleavedParts streams what an OpenAI-compatible upstream may send:
// two tool calls whose argument fragments interleave, and text that resumes
// after a tool call started. The client must get well-formed blocks.
func TestInterleavedParts(t *testing.T) {
	call := func(id, name string) *llm.ToolCall { return &llm.ToolCall{ID: id, Name: name} }
	done := llm.Event{Kind: llm.EventDone, Response: &llm.Response{StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 1, OutputTokens: 2}}}
	fake := llmtest.NewModel("fake/model", llmtest.Reply{Events: []llm.Event{
		{Kind: llm.EventText, Index: 0, Text: "Two "},
		{Kind: llm.EventToolCallStart, Index: 1, ToolCall: call("call_a", "f")},
		{Kind: llm.EventToolCallStart, Index: 2, ToolCall: call("call_b", "g")},
		{Kind: llm.EventToolCallDelta, Index: 1, Text: `{"x":`},
		{Kind: llm.EventToolCallDelta, Index: 2, Text: `{"y":2}`},
		{Kind: llm.EventText, Index: 0, Text: "calls."},
		{Kind: llm.EventToolCallDelta, Index: 1, Text: `1}`},
		{Kind: llm.EventToolCallEnd, Index: 1},
		{Kind: llm.EventToolCallEnd, Index: 2},
		done,
	}})
	e := newEnv(t, models{"fake/model": fake}, anthropicwire.Options{})
	msg, err := e.stream(t, params("fake/model", userText("go")))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range msg.Content {
		switch b.Type {
		case "text":
			got = append(got, "text:"+b.Text)
		case "tool_use":
			got = append(got, "tool_use:"+b.ID+":"+string(b.Input))
		}
	}
	want := []string{"text:Two ", `tool_use:call_a:{"x":1}`, `tool_use:call_b:{"y":2}`, "text:calls."}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
	if msg.StopReason != anthropic.StopReasonToolUse || msg.Usage.OutputTokens != 2 {
		t.Errorf("stop %q usage %+v", msg.StopReason, msg.Usage)
	}
}

// hanging streams one text event, then waits for its context to end and
// reports that it did.
type hanging struct {
	*llmtest.Model
	stopped chan struct{}
}

func (h hanging) Stream(ctx context.Context, _ *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		defer close(h.stopped)
		if !yield(llm.Event{Kind: llm.EventText, Text: "Thinking about it"}, nil) {
			return
		}
		<-ctx.Done()
		yield(llm.Event{}, ctx.Err())
	}
}

func TestClientCancelStopsUpstream(t *testing.T) {
	m := hanging{Model: llmtest.NewEcho("fake/model"), stopped: make(chan struct{})}
	e := newEnv(t, models{"fake/model": m}, anthropicwire.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	s := e.client.Messages.NewStreaming(ctx, params("fake/model", userText("hi")))
	for s.Next() {
		if s.Current().Type == "content_block_delta" {
			break
		}
	}
	cancel()
	s.Close()
	select {
	case <-m.stopped:
	case <-time.After(30 * time.Second): // a bound for a hung test, not a timing assertion
		t.Fatal("the upstream stream is still running after the client left")
	}
}
