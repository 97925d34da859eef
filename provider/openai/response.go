package openai

import (
	"crypto/rand"
	"encoding/json"
	"strings"

	"github.com/keelai/keel/internal/lenientjson"
	"github.com/keelai/keel/llm"
)

// response translates the body of a non-streamed completion. Model and
// Latency are set by the caller.
func (p *Provider) response(body []byte) (*llm.Response, error) {
	var cc wireCompletion
	if err := lenientjson.DecodeAnswer(p.name, body, &cc); err != nil {
		return nil, err
	}
	if len(cc.Choices) == 0 {
		if e := string(cc.Error); e != "" && e != "null" {
			// Some compatible servers answer 200 with an error body.
			return nil, p.errorObject(json.RawMessage(cc.Error), nil, nil)
		}
		return nil, &llm.Error{Kind: llm.KindServer, Provider: p.name, Message: "response has no choices"}
	}
	choice := &cc.Choices[0]
	msg := &choice.Message
	resp := &llm.Response{ID: string(cc.ID), Usage: usage(cc.Usage)}
	if r := msg.reasoning(); r != "" {
		resp.Content = append(resp.Content, llm.Thinking{Text: r})
	}
	if msg.Content != "" {
		resp.Content = append(resp.Content, llm.Text{Text: string(msg.Content)})
	}
	if msg.Refusal != "" {
		resp.Content = append(resp.Content, llm.Text{Text: string(msg.Refusal)})
	}
	calls := 0
	for _, tc := range msg.ToolCalls {
		if tc.Type != "" && tc.Type != "function" {
			continue // custom tools are never sent, so never called
		}
		resp.Content = append(resp.Content, llm.ToolCall{
			ID:    callID(string(tc.ID)),
			Name:  string(tc.Function.Name),
			Input: arguments(string(tc.Function.Arguments)),
		})
		calls++
	}
	if calls == 0 && msg.FunctionCall.Name != "" {
		// The deprecated single function_call, still sent by some servers.
		resp.Content = append(resp.Content, llm.ToolCall{
			ID:    callID(""),
			Name:  string(msg.FunctionCall.Name),
			Input: arguments(string(msg.FunctionCall.Arguments)),
		})
		calls++
	}
	resp.StopReason = stopReason(string(choice.FinishReason), calls > 0, msg.Refusal != "")
	return resp, nil
}

// usage normalises OpenAI's counts to llm.Usage. prompt_tokens includes the
// cached tokens and the tokens written to the cache, which Keel counts in
// their own classes, so they are subtracted from InputTokens.
func usage(u *wireUsage) llm.Usage {
	if u == nil {
		return llm.Usage{}
	}
	cached := int(u.PromptTokensDetails.CachedTokens)
	written := int(u.PromptTokensDetails.CacheWriteTokens)
	return llm.Usage{
		InputTokens:      max(int(u.PromptTokens)-cached-written, 0),
		OutputTokens:     int(u.CompletionTokens),
		CacheReadTokens:  cached,
		CacheWriteTokens: written,
	}
}

// stopReason maps a finish_reason. Servers that answer "stop" while
// calling tools (older Ollama) are read by the completed message, which is
// what an agent loop must decide on.
func stopReason(finish string, toolCalls, refusal bool) llm.StopReason {
	switch finish {
	case "stop", "eos", "end_turn":
		if toolCalls {
			return llm.StopToolUse
		}
		if refusal {
			return llm.StopRefusal
		}
		return llm.StopEndTurn
	case "length", "max_tokens":
		return llm.StopMaxTokens
	case "tool_calls", "function_call":
		return llm.StopToolUse
	case "content_filter":
		return llm.StopRefusal
	}
	return llm.StopUnknown
}

// arguments keeps a call's arguments as the model produced them ("{}" when
// empty, as for a call without parameters).
func arguments(s string) json.RawMessage {
	if strings.TrimSpace(s) == "" {
		return json.RawMessage("{}")
	}
	return json.RawMessage(s)
}

// callID returns id, or a fresh one for servers that send none: the call
// must be answered by ID in the next turn.
func callID(id string) string {
	if id != "" {
		return id
	}
	return "call_" + rand.Text()
}
