package anthropicwire

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/keelai/keel/llm"
)

// The response side is written by hand into a reused buffer: the shapes are
// few and fixed, and appending them directly costs a fraction of
// marshalling structs (no reflection, no intermediate values), which is
// most of the gateway's per-request CPU budget on the streaming path.

// appendString appends s as a JSON string. Text that is not valid UTF-8
// (a model cut inside a rune) has its bad bytes replaced, as the API does,
// rather than failing the response.
func appendString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	out, err := jsontext.AppendQuote(b, s)
	if err != nil {
		return append(b, `""`...) // unreachable: s is valid UTF-8
	}
	return out
}

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }

// appendUsage appends the API's usage object. llm.Usage already counts
// input tokens as Anthropic does (without cache reads and writes).
func appendUsage(b []byte, u llm.Usage) []byte {
	b = append(b, `{"input_tokens":`...)
	b = appendInt(b, u.InputTokens)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = appendInt(b, u.CacheWriteTokens+u.CacheWrite1hTokens)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = appendInt(b, u.CacheReadTokens)
	b = append(b, `,"cache_creation":{"ephemeral_5m_input_tokens":`...)
	b = appendInt(b, u.CacheWriteTokens)
	b = append(b, `,"ephemeral_1h_input_tokens":`...)
	b = appendInt(b, u.CacheWrite1hTokens)
	b = append(b, `},"output_tokens":`...)
	b = appendInt(b, u.OutputTokens)
	return append(b, '}')
}

// stopReason returns the API's stop_reason for resp. Reasons Keel could
// not classify read as end_turn: the client must get one of the API's
// values, and the turn did end.
func stopReason(resp *llm.Response) string {
	switch resp.StopReason {
	case llm.StopEndTurn, llm.StopMaxTokens, llm.StopToolUse, llm.StopSequence, llm.StopRefusal, llm.StopPauseTurn:
		return string(resp.StopReason)
	}
	if len(resp.ToolCalls()) > 0 {
		return string(llm.StopToolUse)
	}
	return string(llm.StopEndTurn)
}

// appendStop appends the stop_reason and stop_sequence members.
func appendStop(b []byte, resp *llm.Response) []byte {
	reason := stopReason(resp)
	b = append(b, `"stop_reason":`...)
	b = appendString(b, reason)
	b = append(b, `,"stop_sequence":`...)
	if reason == string(llm.StopSequence) {
		return appendString(b, resp.StopSequence)
	}
	return append(b, "null"...)
}

// appendMessage appends the message object of a non-streamed response.
func appendMessage(b []byte, id, model string, resp *llm.Response) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = appendString(b, model)
	b = append(b, `,"content":[`...)
	n := 0
	for _, p := range resp.Content {
		start := len(b)
		if n > 0 {
			b = append(b, ',')
		}
		var ok bool
		b, ok = appendBlock(b, p)
		if !ok {
			b = b[:start]
			continue
		}
		n++
	}
	b = append(b, "],"...)
	b = appendStop(b, resp)
	b = append(b, `,"usage":`...)
	b = appendUsage(b, resp.Usage)
	return append(b, '}')
}

// appendBlock appends one content block of a response; ok is false for a
// part a response cannot carry.
func appendBlock(b []byte, p llm.Part) (_ []byte, ok bool) {
	switch p := p.(type) {
	case llm.Text:
		b = append(b, `{"type":"text","text":`...)
		b = appendString(b, p.Text)
		return append(b, '}'), true
	case llm.Thinking:
		if p.Redacted != "" {
			b = append(b, `{"type":"redacted_thinking","data":`...)
			b = appendString(b, p.Redacted)
			return append(b, '}'), true
		}
		b = append(b, `{"type":"thinking","thinking":`...)
		b = appendString(b, p.Text)
		b = append(b, `,"signature":`...)
		b = appendString(b, p.Signature)
		return append(b, '}'), true
	case llm.ToolCall:
		b = append(b, `{"type":"tool_use","id":`...)
		b = appendString(b, p.ID)
		b = append(b, `,"name":`...)
		b = appendString(b, p.Name)
		b = append(b, `,"input":`...)
		b = appendInput(b, p.Input)
		return append(b, '}'), true
	}
	return b, false
}

// appendInput appends a tool call's input, compacted so that it can also
// sit on one SSE data line. Arguments a model left unfinished (cut by
// max_tokens) are not a JSON object; the API's type says input is one,
// so they become {} rather than breaking the client's decoder.
func appendInput(b []byte, input []byte) []byte {
	v := jsontext.Value(input)
	if v.Kind() != '{' {
		return append(b, "{}"...)
	}
	start := len(b)
	b = append(b, input...)
	compact := jsontext.Value(b[start:])
	if err := compact.Compact(); err != nil {
		return append(b[:start], "{}"...)
	}
	return append(b[:start], compact...)
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns prefix and 24 random base62 characters, the shape of the
// API's ids. math/rand/v2's generator is enough: ids must be unique, not
// secret.
func newID(prefix string) string {
	b := make([]byte, len(prefix), len(prefix)+24)
	copy(b, prefix)
	for range 2 {
		r := rand.Uint64()
		for range 12 {
			b = append(b, idAlphabet[r%62])
			r /= 62
		}
	}
	return string(b)
}
