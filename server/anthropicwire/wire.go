package anthropicwire

import (
	"errors"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The request shapes of the Messages API. They are concrete structs decoded
// by encoding/json/v2 (go-json-experiment, the module it came from) with
// unknown members rejected, so a misspelt field is a 400 naming its JSON
// path instead of being silently ignored. Pointers mark presence where the
// API distinguishes absent from zero.

// wireRequest is the body of POST /v1/messages.
type wireRequest struct {
	Model         string            `json:"model"`
	Messages      []wireMessage     `json:"messages"`
	System        *wireContent      `json:"system"`
	MaxTokens     *int              `json:"max_tokens"`
	Temperature   *float64          `json:"temperature"`
	TopP          *float64          `json:"top_p"`
	TopK          *int              `json:"top_k"`
	StopSequences []string          `json:"stop_sequences"`
	Stream        bool              `json:"stream"`
	Tools         []wireTool        `json:"tools"`
	ToolChoice    *wireToolChoice   `json:"tool_choice"`
	Thinking      *wireThinking     `json:"thinking"`
	Metadata      *wireMetadata     `json:"metadata"`
	OutputConfig  *wireOutputConfig `json:"output_config"`
	CacheControl  *wireCache        `json:"cache_control"`
	// ServiceTier only steers Anthropic's own capacity; it is accepted so
	// that clients which always send it work, and means nothing elsewhere.
	ServiceTier *string `json:"service_tier"`
}

// wireCountRequest is the body of POST /v1/messages/count_tokens: the
// request without the generation parameters, as the API defines it.
type wireCountRequest struct {
	Model        string            `json:"model"`
	Messages     []wireMessage     `json:"messages"`
	System       *wireContent      `json:"system"`
	Tools        []wireTool        `json:"tools"`
	ToolChoice   *wireToolChoice   `json:"tool_choice"`
	Thinking     *wireThinking     `json:"thinking"`
	OutputConfig *wireOutputConfig `json:"output_config"`
	CacheControl *wireCache        `json:"cache_control"`
}

type wireMessage struct {
	Role    string       `json:"role"`
	Content *wireContent `json:"content"`
}

// wireContent is a message's (or the system prompt's, or a tool result's)
// content: a string, or an array of content blocks.
type wireContent struct {
	Text     string
	IsString bool
	Blocks   []wireBlock
}

// errContentShape is returned (and wrapped by the decoder with the JSON
// path) for content that is neither a string nor an array. Its text is
// Anthropic's own, capital and all, so clients see the message they know.
//
//lint:ignore ST1005 the API's exact message
var errContentShape = errors.New("Input should be a valid string or a list of content blocks")

// UnmarshalJSONFrom implements json.UnmarshalerFrom, reading the string or
// array form without buffering the value.
func (c *wireContent) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '"':
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		c.Text, c.IsString = tok.String(), true
		return nil
	case '[':
		return json.UnmarshalDecode(dec, &c.Blocks)
	}
	if err := dec.SkipValue(); err != nil {
		return err
	}
	return errContentShape
}

// wireBlock is any content block. The API's blocks share a handful of
// members; one flat struct decodes them all without a first pass for the
// type, and check then refuses members that do not belong to the block's
// type, as the API does.
type wireBlock struct {
	Type         string         `json:"type"`
	Text         *string        `json:"text"`
	Source       *wireSource    `json:"source"`
	ID           *string        `json:"id"`
	Name         *string        `json:"name"`
	Input        jsontext.Value `json:"input"`
	ToolUseID    *string        `json:"tool_use_id"`
	Content      *wireContent   `json:"content"`
	IsError      *bool          `json:"is_error"`
	Thinking     *string        `json:"thinking"`
	Signature    *string        `json:"signature"`
	Data         *string        `json:"data"`
	Title        *string        `json:"title"`
	Context      *string        `json:"context"`
	Citations    jsontext.Value `json:"citations"`
	CacheControl *wireCache     `json:"cache_control"`
}

type wireSource struct {
	Type      string  `json:"type"`
	MediaType *string `json:"media_type"`
	Data      *string `json:"data"`
	URL       *string `json:"url"`
	FileID    *string `json:"file_id"`
}

type wireCache struct {
	Type string `json:"type"`
	TTL  string `json:"ttl"`
}

// wireTool is a tool definition. Server tools (web search, code execution,
// ...) have members of their own, so the type is read first: a server tool
// is refused by name rather than by its first unfamiliar member.
type wireTool struct {
	Type         string         `json:"type"`
	Name         string         `json:"name"`
	Description  *string        `json:"description"`
	InputSchema  jsontext.Value `json:"input_schema"`
	CacheControl *wireCache     `json:"cache_control"`
	// Strict and EagerInputStreaming change how Anthropic validates and
	// streams the input; accepted so that clients sending them work.
	Strict              *bool `json:"strict"`
	EagerInputStreaming *bool `json:"eager_input_streaming"`
}

// serverToolError is a server tool in the request; the decoder wraps it
// with the tool's path.
type serverToolError struct{ typ string }

func (e *serverToolError) Error() string {
	return "server tool " + quote(e.typ) + " is not supported by Keel's gateway: only custom tools (name, description, input_schema) can be served by every model"
}

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (t *wireTool) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	var head struct {
		Type string `json:"type"`
	}
	// A first, lenient look at the type only: members are checked below.
	if err := json.Unmarshal(v, &head); err == nil && head.Type != "" && head.Type != "custom" {
		return &serverToolError{typ: head.Type}
	}
	type plain wireTool // without this method
	err = json.Unmarshal(v, (*plain)(t), dec.Options(), json.RejectUnknownMembers(true))
	var se *json.SemanticError
	if errors.As(err, &se) {
		// The inner decode saw the tool alone; put its path back in the
		// request's frame.
		se.JSONPointer = dec.StackPointer() + se.JSONPointer
	}
	return err
}

type wireToolChoice struct {
	Type                   string  `json:"type"`
	Name                   *string `json:"name"`
	DisableParallelToolUse *bool   `json:"disable_parallel_tool_use"`
}

type wireThinking struct {
	Type         string `json:"type"`
	BudgetTokens *int   `json:"budget_tokens"`
}

type wireMetadata struct {
	UserID *string `json:"user_id"`
}

type wireOutputConfig struct {
	Format *wireFormat `json:"format"`
	Effort *string     `json:"effort"`
}

type wireFormat struct {
	Type   string         `json:"type"`
	Schema jsontext.Value `json:"schema"`
}

func quote(s string) string {
	b, _ := jsontext.AppendQuote(nil, s)
	return string(b)
}
