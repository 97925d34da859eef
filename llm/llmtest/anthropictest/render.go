package anthropictest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
)

// The wire shapes below follow the Messages API's responses and events.

type wireMessage struct {
	ID           string      `json:"id"`
	Type         string      `json:"type"`
	Role         string      `json:"role"`
	Model        string      `json:"model"`
	Content      []wireBlock `json:"content"`
	StopReason   *string     `json:"stop_reason"`
	StopSequence *string     `json:"stop_sequence"`
	Usage        wireUsage   `json:"usage"`
}

type wireBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	Thinking  *string         `json:"thinking,omitempty"`
	Signature *string         `json:"signature,omitempty"`
	Data      string          `json:"data,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
}

type wireUsage struct {
	InputTokens              int                `json:"input_tokens"`
	CacheCreationInputTokens int                `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int                `json:"cache_read_input_tokens"`
	CacheCreation            *wireCacheCreation `json:"cache_creation,omitempty"`
	OutputTokens             int                `json:"output_tokens"`
	ServiceTier              string             `json:"service_tier,omitempty"`
}

type wireCacheCreation struct {
	Ephemeral5m int `json:"ephemeral_5m_input_tokens"`
	Ephemeral1h int `json:"ephemeral_1h_input_tokens"`
}

// render turns a scripted response into the API's message object. Parts a
// response cannot hold (images, documents, tool results) are left out.
func (s *Server) render(resp *llm.Response, id, model string, body []byte) (*wireMessage, error) {
	m := &wireMessage{ID: id, Type: "message", Role: "assistant", Model: model, Content: []wireBlock{}}
	words, calls := 0, 0
	for i, p := range resp.Content {
		switch p := p.(type) {
		case llm.Text:
			m.Content = append(m.Content, wireBlock{Type: "text", Text: new(p.Text)})
			words += len(strings.Fields(p.Text))
		case llm.Thinking:
			if p.Redacted != "" {
				m.Content = append(m.Content, wireBlock{Type: "redacted_thinking", Data: p.Redacted})
				continue
			}
			m.Content = append(m.Content, wireBlock{Type: "thinking", Thinking: new(p.Text), Signature: new(p.Signature)})
			words += len(strings.Fields(p.Text))
		case llm.ToolCall:
			calls++
			input := p.Input
			if len(strings.TrimSpace(string(input))) == 0 {
				input = json.RawMessage("{}")
			}
			// Compacted, so that the streamed and the whole answer carry the
			// same bytes.
			var compact bytes.Buffer
			if err := json.Compact(&compact, input); err != nil {
				return nil, fmt.Errorf("scripted response part %d: tool input is not JSON: %w", i, err)
			}
			input = compact.Bytes()
			id := p.ID
			if id == "" {
				id = fmt.Sprintf("toolu_emu_%06d", s.seq.Add(1))
			}
			m.Content = append(m.Content, wireBlock{Type: "tool_use", ID: id, Name: p.Name, Input: input})
			words += 5
		}
	}

	stop := string(resp.StopReason)
	if stop == "" {
		stop = string(llm.StopEndTurn)
		if calls > 0 {
			stop = string(llm.StopToolUse)
		}
	}
	m.StopReason = &stop
	if resp.StopReason == llm.StopSequence {
		m.StopSequence = new(resp.StopSequence)
	}

	u := resp.Usage
	if u == (llm.Usage{}) {
		u = llm.Usage{InputTokens: countTokens(body), OutputTokens: max(1, words)}
	}
	m.Usage = wireUsage{
		InputTokens:              u.InputTokens,
		CacheCreationInputTokens: u.CacheWriteTokens + u.CacheWrite1hTokens,
		CacheReadInputTokens:     u.CacheReadTokens,
		CacheCreation:            &wireCacheCreation{Ephemeral5m: u.CacheWriteTokens, Ephemeral1h: u.CacheWrite1hTokens},
		OutputTokens:             u.OutputTokens,
		ServiceTier:              "standard",
	}
	return m, nil
}

type startEvent struct {
	Type    string       `json:"type"`
	Message *wireMessage `json:"message"`
}

type blockStartEvent struct {
	Type         string    `json:"type"`
	Index        int       `json:"index"`
	ContentBlock wireBlock `json:"content_block"`
}

type blockDeltaEvent struct {
	Type  string    `json:"type"`
	Index int       `json:"index"`
	Delta wireDelta `json:"delta"`
}

type wireDelta struct {
	Type        string  `json:"type"`
	Text        *string `json:"text,omitempty"`
	PartialJSON *string `json:"partial_json,omitempty"`
	Thinking    *string `json:"thinking,omitempty"`
	Signature   *string `json:"signature,omitempty"`
}

type blockStopEvent struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
}

type messageDeltaEvent struct {
	Type  string `json:"type"`
	Delta struct {
		StopReason   *string `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	} `json:"delta"`
	Usage deltaUsage `json:"usage"`
}

// deltaUsage is message_delta's usage: cumulative counts, the cache split
// left to message_start, as the API sends it.
type deltaUsage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

// stream sends m as the API's event sequence: message_start; for each
// block content_block_start, its deltas and content_block_stop (with a ping
// after the first start); message_delta with the stop reason and usage;
// message_stop. With errBody it stops after f.DropAfter events and sends
// an error event instead.
func stream(w http.ResponseWriter, r *http.Request, f llmtest.Fault, m *wireMessage, errBody string) {
	sse := llmtest.NewSSEWriter(w, r, f)
	sent := 0
	send := func(name string, v any) bool {
		if errBody != "" && sent == f.DropAfter {
			sse.Event("error", []byte(errBody))
			return false
		}
		b, err := json.Marshal(v)
		if err != nil {
			panic(err) // the event types above always marshal
		}
		sse.Event(name, b)
		sent++
		return true
	}

	start := *m
	start.Content = []wireBlock{}
	start.StopReason, start.StopSequence = nil, nil
	start.Usage.OutputTokens = min(1, m.Usage.OutputTokens)
	if !send("message_start", startEvent{Type: "message_start", Message: &start}) {
		return
	}
	for i, b := range m.Content {
		if !send("content_block_start", blockStartEvent{Type: "content_block_start", Index: i, ContentBlock: startBlock(b)}) {
			return
		}
		if i == 0 && !send("ping", map[string]string{"type": "ping"}) {
			return
		}
		for _, d := range deltas(b) {
			if !send("content_block_delta", blockDeltaEvent{Type: "content_block_delta", Index: i, Delta: d}) {
				return
			}
		}
		if !send("content_block_stop", blockStopEvent{Type: "content_block_stop", Index: i}) {
			return
		}
	}
	md := messageDeltaEvent{Type: "message_delta", Usage: deltaUsage{
		InputTokens:              m.Usage.InputTokens,
		CacheCreationInputTokens: m.Usage.CacheCreationInputTokens,
		CacheReadInputTokens:     m.Usage.CacheReadInputTokens,
		OutputTokens:             m.Usage.OutputTokens,
	}}
	md.Delta.StopReason, md.Delta.StopSequence = m.StopReason, m.StopSequence
	if !send("message_delta", md) {
		return
	}
	send("message_stop", map[string]string{"type": "message_stop"})
}

// startBlock is a block as content_block_start shows it: empty, its
// content to come in deltas (redacted thinking comes whole).
func startBlock(b wireBlock) wireBlock {
	switch b.Type {
	case "text":
		return wireBlock{Type: "text", Text: new("")}
	case "thinking":
		return wireBlock{Type: "thinking", Thinking: new(""), Signature: new("")}
	case "tool_use":
		return wireBlock{Type: "tool_use", ID: b.ID, Name: b.Name, Input: json.RawMessage("{}")}
	}
	return b
}

// deltas splits a block's content as the API streams it: text and thinking
// after each space, tool input in short fragments, the signature last.
func deltas(b wireBlock) []wireDelta {
	var ds []wireDelta
	switch b.Type {
	case "text":
		for chunk := range strings.SplitAfterSeq(*b.Text, " ") {
			if chunk != "" {
				ds = append(ds, wireDelta{Type: "text_delta", Text: new(chunk)})
			}
		}
	case "thinking":
		for chunk := range strings.SplitAfterSeq(*b.Thinking, " ") {
			if chunk != "" {
				ds = append(ds, wireDelta{Type: "thinking_delta", Thinking: new(chunk)})
			}
		}
		if *b.Signature != "" {
			ds = append(ds, wireDelta{Type: "signature_delta", Signature: b.Signature})
		}
	case "tool_use":
		// The API opens with an empty fragment before the arguments.
		ds = append(ds, wireDelta{Type: "input_json_delta", PartialJSON: new("")})
		for _, chunk := range fragments(string(b.Input), 12) {
			ds = append(ds, wireDelta{Type: "input_json_delta", PartialJSON: new(chunk)})
		}
	}
	return ds
}

// fragments cuts s into pieces of about n bytes without splitting a rune.
func fragments(s string, n int) []string {
	var out []string
	for len(s) > 0 {
		i := min(n, len(s))
		for i < len(s) && !utf8.RuneStart(s[i]) {
			i++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}
