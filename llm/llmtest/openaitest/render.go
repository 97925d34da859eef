package openaitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

// The JSON shapes below follow OpenAI's chat.completion and
// chat.completion.chunk objects field for field where the SDK reads them.

type wireUsage struct {
	PromptTokens            int               `json:"prompt_tokens"`
	CompletionTokens        int               `json:"completion_tokens"`
	TotalTokens             int               `json:"total_tokens"`
	PromptTokensDetails     promptDetails     `json:"prompt_tokens_details"`
	CompletionTokensDetails completionDetails `json:"completion_tokens_details"`
}

type promptDetails struct {
	CachedTokens     int `json:"cached_tokens"`
	AudioTokens      int `json:"audio_tokens"`
	CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
}

type completionDetails struct {
	ReasoningTokens          int `json:"reasoning_tokens"`
	AudioTokens              int `json:"audio_tokens"`
	AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
	RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
}

type completion struct {
	ID                string     `json:"id,omitempty"`
	Object            string     `json:"object"`
	Created           int64      `json:"created"`
	Model             string     `json:"model"`
	Choices           []choice   `json:"choices"`
	Usage             *wireUsage `json:"usage,omitempty"`
	ServiceTier       string     `json:"service_tier,omitempty"`
	SystemFingerprint string     `json:"system_fingerprint,omitempty"`
}

type choice struct {
	Index        int             `json:"index"`
	Message      message         `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type message struct {
	Role             string     `json:"role"`
	Content          *string    `json:"content"`
	Refusal          *string    `json:"refusal"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
	ToolCalls        []toolCall `json:"tool_calls,omitempty"`
	Annotations      []any      `json:"annotations"`
}

type toolCall struct {
	ID       string   `json:"id,omitempty"`
	Type     string   `json:"type"`
	Function function `json:"function"`
}

type function struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type chunk struct {
	ID                string          `json:"id,omitempty"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	ServiceTier       string          `json:"service_tier,omitempty"`
	SystemFingerprint string          `json:"system_fingerprint,omitempty"`
	Choices           []chunkChoice   `json:"choices"`
	Usage             json.RawMessage `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int             `json:"index"`
	Delta        delta           `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type delta struct {
	Role             string          `json:"role,omitempty"`
	Content          *string         `json:"content,omitempty"`
	Refusal          json.RawMessage `json:"refusal,omitempty"`
	ReasoningContent string          `json:"reasoning_content,omitempty"`
	ToolCalls        []toolCallDelta `json:"tool_calls,omitempty"`
}

type toolCallDelta struct {
	Index    int           `json:"index"`
	ID       string        `json:"id,omitempty"`
	Type     string        `json:"type,omitempty"`
	Function functionDelta `json:"function"`
}

type functionDelta struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

const fingerprint = "fp_emulator"

// renderer renders one response in OpenAI's format.
type renderer struct {
	s      *Server
	compat Compat
	model  string
	resp   *llm.Response
}

func (rn *renderer) id() string {
	if rn.compat.NoIDs {
		return ""
	}
	if rn.resp.ID != "" {
		return rn.resp.ID
	}
	return fmt.Sprintf("chatcmpl-emu%06d", rn.s.next())
}

func (rn *renderer) callID(c llm.ToolCall) string {
	if rn.compat.NoIDs {
		return ""
	}
	if c.ID != "" {
		return c.ID
	}
	return fmt.Sprintf("call_emu%06d", rn.s.next())
}

func (rn *renderer) usage() *wireUsage {
	if rn.compat.NoUsage {
		return nil
	}
	u := rn.resp.Usage
	return &wireUsage{
		PromptTokens:     u.PromptTokens(),
		CompletionTokens: u.OutputTokens,
		TotalTokens:      u.PromptTokens() + u.OutputTokens,
		PromptTokensDetails: promptDetails{
			CachedTokens:     u.CacheReadTokens,
			CacheWriteTokens: u.CacheWriteTokens + u.CacheWrite1hTokens,
		},
	}
}

// finishReason renders a stop reason; reasons OpenAI has no name for are
// sent as they are, so clients meet an unknown finish_reason.
func (rn *renderer) finishReason() string {
	switch rn.resp.StopReason {
	case llm.StopEndTurn, llm.StopSequence:
		return "stop"
	case llm.StopMaxTokens:
		return "length"
	case llm.StopToolUse:
		return "tool_calls"
	case llm.StopRefusal:
		return "content_filter"
	case "":
		if len(rn.resp.ToolCalls()) > 0 {
			return "tool_calls"
		}
		return "stop"
	}
	return string(rn.resp.StopReason)
}

func (rn *renderer) completion() completion {
	msg := message{Role: "assistant", Annotations: []any{}}
	var text, thinking strings.Builder
	for _, p := range rn.resp.Content {
		switch p := p.(type) {
		case llm.Text:
			text.WriteString(p.Text)
		case llm.Thinking:
			thinking.WriteString(p.Text)
		case llm.ToolCall:
			msg.ToolCalls = append(msg.ToolCalls, toolCall{
				ID:       rn.callID(p),
				Type:     "function",
				Function: function{Name: p.Name, Arguments: string(p.Input)},
			})
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		s := text.String()
		msg.Content = &s
	}
	msg.ReasoningContent = thinking.String()
	return completion{
		ID:                rn.id(),
		Object:            "chat.completion",
		Created:           time.Now().Unix(),
		Model:             rn.model,
		Choices:           []choice{{Message: msg, FinishReason: rn.finishReason()}},
		Usage:             rn.usage(),
		ServiceTier:       "default",
		SystemFingerprint: fingerprint,
	}
}

// chunks returns the stream's chunks in the order OpenAI sends them: a
// role-only first delta, reasoning, text, tool calls, an empty delta with
// the finish_reason, and (when asked for) a usage chunk without choices.
func (rn *renderer) chunks(includeUsage bool) []chunk {
	id := rn.id()
	created := time.Now().Unix()
	base := chunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: rn.model, ServiceTier: "default", SystemFingerprint: fingerprint}
	includeUsage = includeUsage && !rn.compat.NoUsage
	if includeUsage {
		base.Usage = json.RawMessage("null")
	}
	var out []chunk
	add := func(d delta, finish *string) {
		c := base
		c.Choices = []chunkChoice{{Delta: d, FinishReason: finish}}
		out = append(out, c)
		if rn.compat.EmptyDeltas && finish == nil {
			e := base
			e.Choices = []chunkChoice{{}}
			out = append(out, e)
		}
	}
	empty := ""
	add(delta{Role: "assistant", Content: &empty, Refusal: json.RawMessage("null")}, nil)

	var calls []llm.ToolCall
	for _, p := range rn.resp.Content {
		switch p := p.(type) {
		case llm.Thinking:
			for _, piece := range words(p.Text) {
				add(delta{ReasoningContent: piece}, nil)
			}
		case llm.Text:
			for _, piece := range words(p.Text) {
				add(delta{Content: &piece}, nil)
			}
		case llm.ToolCall:
			calls = append(calls, p)
		}
	}
	rn.toolCallChunks(calls, add)

	finish := rn.finishReason()
	add(delta{}, &finish)
	if includeUsage {
		c := base
		c.Choices = []chunkChoice{}
		if rn.compat.EmptyDeltas {
			c.Choices = []chunkChoice{{}}
		}
		c.Usage, _ = json.Marshal(rn.usage())
		out = append(out, c)
	}
	return out
}

// toolCallChunks streams tool calls: a first delta with id, type and name,
// then the arguments in fragments.
func (rn *renderer) toolCallChunks(calls []llm.ToolCall, add func(delta, *string)) {
	open := func(i int, c llm.ToolCall) {
		add(delta{ToolCalls: []toolCallDelta{{
			Index: i, ID: rn.callID(c), Type: "function",
			Function: functionDelta{Name: c.Name},
		}}}, nil)
	}
	frag := func(i int, args string) {
		add(delta{ToolCalls: []toolCallDelta{{Index: i, Function: functionDelta{Arguments: args}}}}, nil)
	}
	if !rn.compat.InterleaveToolCalls {
		for i, c := range calls {
			open(i, c)
			for _, f := range fragments(string(c.Input)) {
				frag(i, f)
			}
		}
		return
	}
	frags := make([][]string, len(calls))
	for i, c := range calls {
		open(i, c)
		frags[i] = fragments(string(c.Input))
	}
	for more := true; more; {
		more = false
		for i := range frags {
			if len(frags[i]) > 0 {
				frag(i, frags[i][0])
				frags[i] = frags[i][1:]
				more = true
			}
		}
	}
}

// stream writes the chunks as server-sent events, then "[DONE]", applying
// the fault; fail.after >= 0 replaces the rest of the stream with an error
// event after that many events.
func (rn *renderer) stream(w http.ResponseWriter, r *http.Request, f llmtest.Fault, includeUsage bool, fail streamFailure) {
	sse := llmtest.NewSSEWriter(w, r, f)
	events := rn.chunks(includeUsage)
	for i, c := range events {
		if i == fail.after {
			sse.Event("", []byte(fail.body))
			return
		}
		b, _ := json.Marshal(c)
		sse.Event("", b)
	}
	if fail.after >= len(events) {
		sse.Event("", []byte(fail.body))
		return
	}
	sse.Event("", []byte("[DONE]"))
}

// words splits text after each space, so that a text arrives in several
// deltas as from a real model.
func words(text string) []string {
	var out []string
	for w := range strings.SplitAfterSeq(text, " ") {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// fragments splits tool-call arguments into pieces of a few bytes, on rune
// boundaries.
func fragments(s string) []string {
	const size = 8
	var out []string
	for len(s) > 0 {
		n := min(size, len(s))
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n++
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}
