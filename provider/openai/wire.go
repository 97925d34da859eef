package openai

import (
	"bytes"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/keelai/keel/internal/lenientjson"
)

// The answers are decoded into these types of Keel's own with
// lenientjson rather than into the SDK's (see that package for why): they
// list what Keel reads, including the fields compatible servers add
// (reasoning_content, x_groq).

type wireCompletion struct {
	ID      lenientjson.String `json:"id"`
	Choices []wireChoice       `json:"choices"`
	Usage   *wireUsage         `json:"usage"`
	// Error is sent with status 200 by some compatible servers.
	Error jsontext.Value `json:"error"`
}

type wireChoice struct {
	Index        int64              `json:"index"`
	Message      wireMessage        `json:"message"`
	Delta        wireMessage        `json:"delta"` // in stream chunks
	FinishReason lenientjson.String `json:"finish_reason"`
}

// wireMessage is a completion's message or a chunk's delta.
type wireMessage struct {
	Content lenientjson.String `json:"content"`
	Refusal lenientjson.String `json:"refusal"`
	// DeepSeek and vLLM send reasoning_content; OpenRouter, Ollama and
	// LM Studio send reasoning.
	ReasoningContent lenientjson.String `json:"reasoning_content"`
	Reasoning        lenientjson.String `json:"reasoning"`
	ToolCalls        []wireToolCall     `json:"tool_calls"`
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
	Index    *int64             `json:"index"`
	ID       lenientjson.String `json:"id"`
	Type     lenientjson.String `json:"type"`
	Function wireFunction       `json:"function"`
}

type wireFunction struct {
	Name      lenientjson.String `json:"name"`
	Arguments argumentsText      `json:"arguments"`
}

type wireUsage struct {
	PromptTokens        lenientjson.Int `json:"prompt_tokens"`
	CompletionTokens    lenientjson.Int `json:"completion_tokens"`
	PromptTokensDetails struct {
		CachedTokens     lenientjson.Int `json:"cached_tokens"`
		CacheWriteTokens lenientjson.Int `json:"cache_write_tokens"`
	} `json:"prompt_tokens_details"`
}

type wireChunk struct {
	ID      lenientjson.String `json:"id"`
	Choices []wireChoice       `json:"choices"`
	Usage   *wireUsage         `json:"usage"`
	XGroq   *struct {
		Usage *wireUsage `json:"usage"`
	} `json:"x_groq"`
	// Error is an error event, sent as a chunk.
	Error jsontext.Value `json:"error"`
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
