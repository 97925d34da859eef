package llm

import (
	"encoding/json"
	"strings"
)

// Role says who authored a message. System instructions are not a role: they
// live in Request.System, apart from the conversation.
type Role string

// The two conversational roles.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Message is one turn of the conversation: a role and its ordered parts.
type Message struct {
	Role  Role
	Parts []Part
}

// Part is one typed piece of a message's content. The set of parts is closed:
// Text, Image, Document, ToolCall, ToolResult and Thinking.
type Part interface {
	// kind returns the part's wire discriminator (also used in JSON).
	kind() string
}

// CacheControl marks a prompt-cache breakpoint after the part, tool or system
// block that carries it: everything up to and including it may be cached by
// providers that support explicit caching (Anthropic). Others ignore it.
type CacheControl struct {
	// TTL is the cache lifetime: 0 for the provider's default (5 minutes),
	// or CacheTTL1h. Other values are rejected by adapters as invalid requests.
	TTL CacheTTL `json:"ttl,omitempty"`
}

// CacheTTL is a prompt-cache lifetime.
type CacheTTL string

// The cache lifetimes providers price separately.
const (
	CacheTTL5m CacheTTL = "5m"
	CacheTTL1h CacheTTL = "1h"
)

// Text is plain text.
type Text struct {
	Text  string
	Cache *CacheControl
}

// Image is an image given inline (Data with MediaType, e.g. "image/png") or by URL.
type Image struct {
	MediaType string
	Data      []byte
	URL       string
	Cache     *CacheControl
}

// Document is a whole document given to the model: a PDF
// ("application/pdf") or plain text ("text/plain"), inline or by URL.
type Document struct {
	MediaType string
	Data      []byte
	URL       string
	Title     string
	Cache     *CacheControl
}

// ToolCall is the model's request to run a tool. Input is the JSON object of
// arguments exactly as the model produced it.
type ToolCall struct {
	ID    string
	Name  string
	Input json.RawMessage
	// Signature is an opaque provider token (Gemini's thought signature)
	// that must be sent back unchanged with the call in later turns.
	Signature string
	Cache     *CacheControl
}

// ToolResult answers the ToolCall whose ID is CallID. Content holds Text and
// Image parts. IsError tells the model the tool failed and Content says why.
type ToolResult struct {
	CallID string
	// Name is the tool's name. Optional: adapters that need it (Gemini) find
	// it from the matching ToolCall earlier in the conversation when empty.
	Name    string
	Content []Part
	IsError bool
	Cache   *CacheControl
}

// Thinking is the model's visible reasoning. Signature (and, for redacted
// thinking, Redacted) are opaque and must round-trip unchanged: providers
// verify them when thinking blocks are sent back in a tool-use loop.
type Thinking struct {
	Text      string
	Signature string
	// Redacted holds the encrypted payload of a redacted thinking block; Text
	// is empty then.
	Redacted string
}

func (Text) kind() string       { return "text" }
func (Image) kind() string      { return "image" }
func (Document) kind() string   { return "document" }
func (ToolCall) kind() string   { return "tool_call" }
func (ToolResult) kind() string { return "tool_result" }
func (Thinking) kind() string   { return "thinking" }

// CacheOf returns the cache breakpoint carried by p, or nil.
func CacheOf(p Part) *CacheControl {
	switch p := p.(type) {
	case Text:
		return p.Cache
	case Image:
		return p.Cache
	case Document:
		return p.Cache
	case ToolCall:
		return p.Cache
	case ToolResult:
		return p.Cache
	}
	return nil
}

// WithCache returns p with its cache breakpoint set to c; false for parts
// that take none (thinking blocks), which are returned unchanged.
func WithCache(p Part, c *CacheControl) (Part, bool) {
	switch p := p.(type) {
	case Text:
		p.Cache = c
		return p, true
	case Image:
		p.Cache = c
		return p, true
	case Document:
		p.Cache = c
		return p, true
	case ToolCall:
		p.Cache = c
		return p, true
	case ToolResult:
		p.Cache = c
		return p, true
	}
	return p, false
}

// UserText returns a user message holding one text part.
func UserText(text string) Message {
	return Message{Role: RoleUser, Parts: []Part{Text{Text: text}}}
}

// AssistantText returns an assistant message holding one text part.
func AssistantText(text string) Message {
	return Message{Role: RoleAssistant, Parts: []Part{Text{Text: text}}}
}

// User returns a user message made of parts.
func User(parts ...Part) Message { return Message{Role: RoleUser, Parts: parts} }

// Assistant returns an assistant message made of parts.
func Assistant(parts ...Part) Message { return Message{Role: RoleAssistant, Parts: parts} }

// Text returns the concatenation of the message's text parts.
func (m Message) Text() string { return joinText(m.Parts) }

// ToolCalls returns the message's tool calls in order.
func (m Message) ToolCalls() []ToolCall { return toolCalls(m.Parts) }

func joinText(parts []Part) string {
	var b strings.Builder
	for _, p := range parts {
		if t, ok := p.(Text); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}

func toolCalls(parts []Part) []ToolCall {
	var calls []ToolCall
	for _, p := range parts {
		if c, ok := p.(ToolCall); ok {
			calls = append(calls, c)
		}
	}
	return calls
}
