package openaiwire

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/server/backend"
)

// completion is a non-streamed chat completion.
type completion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   usage    `json:"usage"`
}

type choice struct {
	Index        int             `json:"index"`
	Message      responseMessage `json:"message"`
	Logprobs     *struct{}       `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type responseMessage struct {
	Role      string         `json:"role"`
	Content   *string        `json:"content"`
	Refusal   *string        `json:"refusal"`
	ToolCalls []wireToolCall `json:"tool_calls,omitempty"`
}

// usage is OpenAI's usage: prompt_tokens counts every input token, cached
// or not (llm.Usage.PromptTokens), and cached_tokens is the part of it read
// from the cache. cache_write_tokens is the part written to it, as newer
// OpenAI models report it.
type usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens     int `json:"cached_tokens"`
		CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
	} `json:"prompt_tokens_details"`
}

func usageOf(u llm.Usage) usage {
	var out usage
	out.PromptTokens = u.PromptTokens()
	out.CompletionTokens = u.OutputTokens
	out.TotalTokens = out.PromptTokens + u.OutputTokens
	out.PromptTokensDetails.CachedTokens = u.CacheReadTokens
	out.PromptTokensDetails.CacheWriteTokens = u.CacheWriteTokens + u.CacheWrite1hTokens
	return out
}

// finishReason maps a stop reason to OpenAI's. A response holding tool
// calls finishes with "tool_calls" whatever the provider said (Gemini says
// STOP), since that is what OpenAI clients loop on.
func finishReason(resp *llm.Response) string {
	switch resp.StopReason {
	case llm.StopMaxTokens:
		return "length"
	case llm.StopToolUse:
		return "tool_calls"
	case llm.StopRefusal:
		return "content_filter"
	}
	if len(resp.ToolCalls()) > 0 {
		return "tool_calls"
	}
	return "stop"
}

func (h *handler) chat(w http.ResponseWriter, r *http.Request) {
	buf, err := h.readBody(w, r)
	if err != nil {
		WriteError(w, err)
		return
	}
	call, err := decodeChatRequest(buf.Bytes())
	h.release(buf)
	if err != nil {
		WriteError(w, err)
		return
	}
	ctx := r.Context()
	m, err := h.models.Open(ctx, call.Model)
	if err != nil {
		if errors.Is(err, backend.ErrUnknownModel) {
			err = modelNotFound(call.Model)
		}
		WriteError(w, err)
		return
	}
	if call.Stream {
		h.stream(w, r, m, call)
		return
	}
	resp, err := m.Generate(ctx, &call.Request)
	if err != nil {
		if !isCanceled(ctx, err) {
			WriteError(w, err)
		}
		return
	}
	model := resp.Model
	if model == "" {
		model = m.Name()
	}
	body, err := json.Marshal(encodeCompletion(newID("chatcmpl-"), unixNow(), model, resp))
	if err != nil {
		WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(body, '\n'))
}

func encodeCompletion(id string, created int64, model string, resp *llm.Response) *completion {
	msg := responseMessage{Role: "assistant"}
	var text []byte
	hasText := false
	for _, p := range resp.Content {
		switch p := p.(type) {
		case llm.Text:
			text = append(text, p.Text...)
			hasText = true
		case llm.ToolCall:
			tc := wireToolCall{ID: p.ID, Type: "function"}
			tc.Function.Name = p.Name
			tc.Function.Arguments = string(p.Input)
			if tc.Function.Arguments == "" {
				tc.Function.Arguments = "{}"
			}
			msg.ToolCalls = append(msg.ToolCalls, tc)
		}
		// Thinking has no place in Chat Completions' message.
	}
	if hasText {
		s := string(text)
		msg.Content = &s
	}
	return &completion{
		ID:      id,
		Object:  "chat.completion",
		Created: created,
		Model:   model,
		Choices: []choice{{Message: msg, FinishReason: finishReason(resp)}},
		Usage:   usageOf(resp.Usage),
	}
}
