package openaiwire_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/anthropictest"
	"github.com/keelai/keel/provider/anthropic"
	"github.com/keelai/keel/server/openaiwire"
)

// claude serves an OpenAI client in front of Keel's Anthropic adapter,
// itself pointed at the Anthropic emulator: an OpenAI client reaching a
// Claude model.
func claude(t *testing.T) (*anthropictest.Server, openai.Client) {
	t.Helper()
	upstream := anthropictest.NewServer(t)
	m := anthropic.New(anthropic.Options{APIKey: "sk-ant-api03-TESTKEYtestkey0123456789", BaseURL: upstream.URL}).Model("claude-sonnet-4-6")
	return upstream, serve(t, map[string]llm.Model{"claude": m}, nil, openaiwire.Options{})
}

// upstreamBody decodes the last body the emulator received.
func upstreamBody(t *testing.T, srv *anthropictest.Server) map[string]any {
	t.Helper()
	reqs := srv.Requests()
	if len(reqs) == 0 {
		t.Fatal("nothing reached the upstream")
	}
	var v map[string]any
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestClaudePlain(t *testing.T) {
	upstream, client := claude(t)
	upstream.Enqueue(llmtest.WireReply{Response: &llm.Response{
		Content:    []llm.Part{llm.Text{Text: "Bonjour !"}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 7, OutputTokens: 4, CacheReadTokens: 1000, CacheWriteTokens: 200},
	}})
	params := userParams("claude")
	params.Messages = append([]openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Answer in French.")}, params.Messages...)
	params.MaxTokens = openai.Int(256)
	resp, err := client.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "Bonjour !" {
		t.Errorf("content = %q", got)
	}
	if !strings.Contains(resp.Model, "claude-sonnet-4-6") {
		t.Errorf("model = %q", resp.Model)
	}
	// Anthropic's input_tokens leaves the cache out; OpenAI's
	// prompt_tokens counts it, with the cache reads as cached_tokens.
	u := resp.Usage
	if u.PromptTokens != 1207 || u.PromptTokensDetails.CachedTokens != 1000 || u.CompletionTokens != 4 || u.TotalTokens != 1211 {
		t.Errorf("usage = %s", u.RawJSON())
	}
	body := upstreamBody(t, upstream)
	if body["max_tokens"] != float64(256) {
		t.Errorf("upstream max_tokens = %v", body["max_tokens"])
	}
	if sys, _ := json.Marshal(body["system"]); !strings.Contains(string(sys), "Answer in French.") {
		t.Errorf("upstream system = %s", sys)
	}
}

func TestClaudeStream(t *testing.T) {
	upstream, client := claude(t)
	upstream.Enqueue(llmtest.WireReply{Response: &llm.Response{
		Content:    []llm.Part{llm.Text{Text: "The quick brown fox"}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 3, OutputTokens: 4, CacheReadTokens: 50},
	}})
	params := userParams("claude")
	params.StreamOptions.IncludeUsage = openai.Bool(true)
	acc, chunks, err := collectStream(client.Chat.Completions.NewStreaming(context.Background(), params))
	if err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.Content; got != "The quick brown fox" {
		t.Errorf("content = %q", got)
	}
	if len(chunks) < 4 {
		t.Errorf("only %d chunks: the text was not streamed", len(chunks))
	}
	u := chunks[len(chunks)-1].Usage
	if u.PromptTokens != 53 || u.PromptTokensDetails.CachedTokens != 50 || u.CompletionTokens != 4 {
		t.Errorf("usage = %s", u.RawJSON())
	}
}

func TestClaudeToolRoundTrip(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := "generate"
		if stream {
			name = "stream"
		}
		t.Run(name, func(t *testing.T) {
			upstream, client := claude(t)
			upstream.Enqueue(
				llmtest.WireReply{Response: &llm.Response{
					Content: []llm.Part{
						llm.Text{Text: "Let me check."},
						llm.ToolCall{ID: "toolu_01", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)},
					},
					StopReason: llm.StopToolUse,
				}},
				llmtest.WireReply{Response: &llm.Response{
					Content:    []llm.Part{llm.Text{Text: "Sunny."}},
					StopReason: llm.StopEndTurn,
				}},
			)
			ctx := context.Background()
			params := userParams("claude")
			params.Tools = []openai.ChatCompletionToolUnionParam{weatherTool()}

			var msg openai.ChatCompletionMessage
			if stream {
				acc, _, err := collectStream(client.Chat.Completions.NewStreaming(ctx, params))
				if err != nil {
					t.Fatal(err)
				}
				msg = acc.Choices[0].Message
				if acc.Choices[0].FinishReason != "tool_calls" {
					t.Errorf("finish = %q", acc.Choices[0].FinishReason)
				}
			} else {
				resp, err := client.Chat.Completions.New(ctx, params)
				if err != nil {
					t.Fatal(err)
				}
				msg = resp.Choices[0].Message
			}
			if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].ID != "toolu_01" || msg.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` {
				t.Fatalf("message = %+v", msg)
			}
			params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage("18°C, clear", "toolu_01"))
			resp, err := client.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Choices[0].Message.Content != "Sunny." {
				t.Errorf("content = %q", resp.Choices[0].Message.Content)
			}

			// Claude got the call back as tool_use and the answer as tool_result.
			body := upstreamBody(t, upstream)
			raw, _ := json.Marshal(body["messages"])
			for _, want := range []string{`"type":"tool_use"`, `"id":"toolu_01"`, `"type":"tool_result"`, `"tool_use_id":"toolu_01"`, `18°C, clear`} {
				if !strings.Contains(string(raw), want) {
					t.Errorf("upstream messages lack %s: %s", want, raw)
				}
			}
			tools, _ := json.Marshal(body["tools"])
			if !strings.Contains(string(tools), `"input_schema"`) || !strings.Contains(string(tools), `"get_weather"`) {
				t.Errorf("upstream tools = %s", tools)
			}
		})
	}
}

// An OpenAI client can place Claude cache breakpoints, with OpenAI's
// prompt_cache_breakpoint or the Anthropic-style cache_control.
func TestClaudeCacheBreakpoint(t *testing.T) {
	upstream, client := claude(t)
	_, err := client.Chat.Completions.New(context.Background(), userParams("claude"),
		withBody(`{"model":"claude","messages":[
			{"role":"system","content":[{"type":"text","text":"Long instructions","cache_control":{"type":"ephemeral"}}]},
			{"role":"user","content":[{"type":"text","text":"Question","prompt_cache_breakpoint":{"mode":"explicit","ttl":"30m"}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(upstreamBody(t, upstream))
	if n := strings.Count(string(raw), `"cache_control"`); n != 2 {
		t.Errorf("%d cache_control in the upstream body, want 2: %s", n, raw)
	}
	if !strings.Contains(string(raw), `"ttl":"1h"`) {
		t.Errorf("30m breakpoint did not become a 1h one: %s", raw)
	}
}

func TestClaudeErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		want   int
	}{
		{"auth", 401, nil, 401},
		{"rate limited", 429, http.Header{"Retry-After": {"7"}}, 429},
		{"overloaded", 529, nil, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upstream, client := claude(t)
			upstream.Enqueue(llmtest.WireReply{Fault: llmtest.Fault{Status: tc.status, Header: tc.header}})
			_, err := client.Chat.Completions.New(context.Background(), userParams("claude"))
			e := apiError(t, err)
			if e.StatusCode != tc.want {
				t.Errorf("status = %d, want %d (%s)", e.StatusCode, tc.want, e.Message)
			}
			if tc.header != nil {
				if got := e.Response.Header.Get("Retry-After"); got != "7" {
					t.Errorf("retry-after = %q", got)
				}
			}
			if strings.Contains(e.RawJSON(), "TESTKEY") {
				t.Errorf("the upstream key leaked: %s", e.RawJSON())
			}
		})
	}
}

func TestClaudeStreamBroken(t *testing.T) {
	resp := &llm.Response{Content: []llm.Part{llm.Text{Text: "a b c d e f g h"}}, StopReason: llm.StopEndTurn}
	for _, tc := range []struct {
		name  string
		reply llmtest.WireReply
	}{
		{"error event", anthropictest.StreamError(resp, 4, 529, "overloaded_error", "Overloaded")},
		{"dropped", llmtest.WireReply{Response: resp, Fault: llmtest.Fault{Drop: true, DropAfter: 4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upstream, client := claude(t)
			upstream.Enqueue(tc.reply)
			acc, chunks, err := collectStream(client.Chat.Completions.NewStreaming(context.Background(), userParams("claude")))
			if err == nil {
				t.Fatalf("a broken stream succeeded: %q after %d chunks", acc.Choices[0].Message.Content, len(chunks))
			}
			// The upstream broke after the first bytes reached the client,
			// so the failure arrives in the stream.
			var se *ssestream.StreamError
			if !errors.As(err, &se) {
				t.Errorf("error = %v (%T), want a *ssestream.StreamError", err, err)
			}
		})
	}
}
