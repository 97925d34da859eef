package openai

import (
	"bytes"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The answers are decoded into these types of Keel's own rather than into
// the SDK's: openai-go's decoder is reflective and keeps every field's raw
// JSON for its .JSON metadata, which made decoding a small completion the
// largest allocation in a gateway request (bench/gateway: about 190 of
// its allocations and a tenth of keel's CPU). The SDK still builds the
// request, sends it and turns error statuses into *openai.Error; only the
// body of a 200 is read here. The types list what Keel reads, including
// the fields compatible servers add (reasoning_content, x_groq), and
// decode leniently as the SDK does: unknown members are ignored, and a
// field of an unexpected shape reads as empty where the SDK would leave
// it so.

type wireCompletion struct {
	ID      lenientText  `json:"id"`
	Choices []wireChoice `json:"choices"`
	Usage   *wireUsage   `json:"usage"`
	// Error is sent with status 200 by some compatible servers.
	Error jsontext.Value `json:"error"`
}

type wireChoice struct {
	Index        int64       `json:"index"`
	Message      wireMessage `json:"message"`
	Delta        wireMessage `json:"delta"` // in stream chunks
	FinishReason lenientText `json:"finish_reason"`
}

// wireMessage is a completion's message or a chunk's delta.
type wireMessage struct {
	Content lenientText `json:"content"`
	Refusal lenientText `json:"refusal"`
	// DeepSeek and vLLM send reasoning_content; OpenRouter, Ollama and
	// LM Studio send reasoning.
	ReasoningContent lenientText    `json:"reasoning_content"`
	Reasoning        lenientText    `json:"reasoning"`
	ToolCalls        []wireToolCall `json:"tool_calls"`
	// FunctionCall is the deprecated single call, still sent by some
	// servers.
	FunctionCall wireFunction `json:"function_call"`
}

func (m *wireMessage) reasoning() string {
	if m.ReasoningContent != "" {
		return string(m.ReasoningContent)
	}
	return string(m.Reasoning)
}

type wireToolCall struct {
	// Index places a streamed call's deltas; nil when the server sends
	// whole calls without one.
	Index    *int64       `json:"index"`
	ID       lenientText  `json:"id"`
	Type     lenientText  `json:"type"`
	Function wireFunction `json:"function"`
}

type wireFunction struct {
	Name      lenientText   `json:"name"`
	Arguments argumentsText `json:"arguments"`
}

type wireUsage struct {
	PromptTokens        lenientInt `json:"prompt_tokens"`
	CompletionTokens    lenientInt `json:"completion_tokens"`
	PromptTokensDetails struct {
		CachedTokens     lenientInt `json:"cached_tokens"`
		CacheWriteTokens lenientInt `json:"cache_write_tokens"`
	} `json:"prompt_tokens_details"`
}

type wireChunk struct {
	ID      lenientText  `json:"id"`
	Choices []wireChoice `json:"choices"`
	Usage   *wireUsage   `json:"usage"`
	XGroq   *struct {
		Usage *wireUsage `json:"usage"`
	} `json:"x_groq"`
	// Error is an error event, sent as a chunk.
	Error jsontext.Value `json:"error"`
}

// decodeOptions are lenient where a compatible server may be sloppy:
// repeated member names and invalid UTF-8 (mangled into U+FFFD, as
// encoding/json does) do not fail an answer.
var decodeOptions = json.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

func decodeWire(body []byte, v any) error {
	return json.Unmarshal(body, v, decodeOptions)
}

// lenientText is a string that reads null, and any value that is not a
// string, as empty; an array of content parts ({"type":"text","text":…},
// as a few servers send for content) reads as their texts joined.
type lenientText string

func (t *lenientText) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '"':
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		*t = lenientText(tok.String())
		return nil
	case '[':
		var parts []struct {
			Text lenientText `json:"text"`
		}
		if err := json.UnmarshalDecode(dec, &parts); err != nil {
			return err
		}
		var b []byte
		for _, p := range parts {
			b = append(b, p.Text...)
		}
		*t = lenientText(b)
		return nil
	}
	*t = ""
	return dec.SkipValue()
}

// argumentsText is a call's arguments: a string of JSON, as OpenAI sends
// them, or the JSON object itself, as some local servers do.
type argumentsText string

func (a *argumentsText) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '"':
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		*a = argumentsText(tok.String())
		return nil
	case '{':
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		*a = argumentsText(bytes.Clone(v))
		return nil
	}
	*a = ""
	return dec.SkipValue()
}

// lenientInt is a token count: a number (fractional ones truncated), or 0
// for null and anything else.
type lenientInt int64

func (n *lenientInt) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '0' {
		*n = 0
		return dec.SkipValue()
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	*n = lenientInt(tok.Float())
	return nil
}
