package anthropic

import (
	"encoding/json"
	"strings"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/keelai/keel/llm"
)

// response translates a complete message. Block types Keel has no part for
// (server tool results, for instance) are left out. An empty answer has nil
// Content, as a streamed one does.
func (m *Model) response(msg *wireMessage) *llm.Response {
	r := &llm.Response{
		ID:           string(msg.ID),
		Model:        m.name,
		StopReason:   stopReason(sdk.StopReason(msg.StopReason)),
		StopSequence: string(msg.StopSequence),
	}
	for _, b := range msg.Content {
		switch b.Type {
		case "text":
			r.Content = append(r.Content, llm.Text{Text: string(b.Text)})
		case "thinking":
			r.Content = append(r.Content, llm.Thinking{Text: string(b.Thinking), Signature: string(b.Signature)})
		case "redacted_thinking":
			r.Content = append(r.Content, llm.Thinking{Redacted: string(b.Data)})
		case "tool_use":
			input := json.RawMessage(strings.TrimSpace(string(b.Input)))
			if len(input) == 0 || string(input) == "null" {
				input = json.RawMessage("{}")
			}
			r.Content = append(r.Content, llm.ToolCall{ID: string(b.ID), Name: string(b.Name), Input: input})
		}
	}
	var u usageState
	msg.Usage.mergeInto(&u)
	r.Usage = u.normalise()
	return r
}

// stopReason maps the API's stop reason. model_context_window_exceeded is
// a token limit like max_tokens: the answer was cut, and callers that
// continue or raise the limit on StopMaxTokens do the right thing.
func stopReason(s sdk.StopReason) llm.StopReason {
	switch s {
	case sdk.StopReasonEndTurn:
		return llm.StopEndTurn
	case sdk.StopReasonMaxTokens, sdk.StopReasonModelContextWindowExceeded:
		return llm.StopMaxTokens
	case sdk.StopReasonToolUse:
		return llm.StopToolUse
	case sdk.StopReasonStopSequence:
		return llm.StopSequence
	case sdk.StopReasonRefusal:
		return llm.StopRefusal
	case sdk.StopReasonPauseTurn:
		return llm.StopPauseTurn
	}
	return llm.StopUnknown
}

// usageState gathers the usage fields of a response. A stream reports them
// in message_start and again, cumulatively, in message_delta: each field
// keeps its latest non-zero value, so nothing is counted twice.
type usageState struct {
	input, output, cacheRead, cacheCreation int64
	// cache5m and cache1h split cacheCreation by lifetime, when the API
	// sends the split (split is then true).
	cache5m, cache1h int64
	split            bool
}

func (u *usageState) merge(input, output, cacheRead, cacheCreation int64) {
	latest(&u.input, input)
	latest(&u.output, output)
	latest(&u.cacheRead, cacheRead)
	latest(&u.cacheCreation, cacheCreation)
}

func (u *usageState) mergeSplit(cache5m, cache1h int64) {
	if cache5m > 0 || cache1h > 0 {
		u.cache5m, u.cache1h, u.split = cache5m, cache1h, true
	}
}

func latest(dst *int64, v int64) {
	if v > 0 {
		*dst = v
	}
}

// normalise returns the usage in Keel's classes. Without a split every
// cache write is a 5-minute one; with a split that falls short of the total
// (a later event raised the total alone), the rest is counted as 5-minute
// writes, so that the classes always add up to what the API billed.
func (u *usageState) normalise() llm.Usage {
	r := llm.Usage{
		InputTokens:     int(u.input),
		OutputTokens:    int(u.output),
		CacheReadTokens: int(u.cacheRead),
	}
	if !u.split {
		r.CacheWriteTokens = int(u.cacheCreation)
		return r
	}
	r.CacheWriteTokens = int(max(u.cache5m, u.cacheCreation-u.cache1h))
	r.CacheWrite1hTokens = int(u.cache1h)
	return r
}
