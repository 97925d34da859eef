package llm

import (
	"encoding/json"
	"maps"
	"slices"
)

// Request is one call to a model. Which model answers is the Model's business
// (a Model value is bound to one `provider/model` name), so that fallbacks and
// routing can send the same request to another model unchanged.
//
// Models and middleware never modify a Request they are given; one that needs
// a different request works on a Clone.
type Request struct {
	// System is the system prompt, kept apart from the conversation. Each
	// block may carry a cache breakpoint.
	System []Text
	// Messages is the conversation, oldest first, starting with a user turn.
	Messages []Message
	// Tools the model may call.
	Tools []Tool
	// ToolChoice constrains tool use; the zero value lets the model decide.
	ToolChoice ToolChoice
	// MaxTokens caps the output. 0 means the adapter's default for the model.
	MaxTokens int
	// Temperature and TopP are sampling parameters; nil means the provider default.
	Temperature *float64
	TopP        *float64
	// TopK samples each token from the K most likely ones; 0 means the
	// provider's default. Anthropic, Gemini and OpenAI-compatible servers
	// (vLLM, Ollama, llama.cpp) take it; OpenAI's own API has no top_k, and
	// its adapter refuses a request that sets it rather than drop it.
	TopK int
	// ParallelToolCalls says whether the model may call several tools in one
	// turn: nil leaves the provider's default (allowed), false asks for at
	// most one call per turn. It means nothing without Tools. Gemini has no
	// such switch and ignores it.
	ParallelToolCalls *bool
	// StopSequences end generation when produced.
	StopSequences []string
	// Output, when set, asks for a JSON value conforming to a schema, using
	// the provider's native structured-output mode.
	Output *OutputSchema
	// Thinking, when set, enables extended thinking with a token budget.
	Thinking *ThinkingConfig
	// Tags are metadata carried to logs, metrics and traces (prompt name and
	// version, task label, API key name, ...). They are never sent upstream.
	Tags map[string]string
}

// Tool describes a tool to the model.
type Tool struct {
	Name        string
	Description string
	// InputSchema is the JSON Schema of the tool's input object.
	InputSchema json.RawMessage
	Cache       *CacheControl
}

// ToolChoiceMode says whether and how the model must use tools.
type ToolChoiceMode string

// Tool choice modes. The empty mode is ToolAuto.
const (
	ToolAuto  ToolChoiceMode = ""     // the model decides
	ToolAny   ToolChoiceMode = "any"  // the model must call some tool
	ToolNone  ToolChoiceMode = "none" // the model must not call tools
	ToolNamed ToolChoiceMode = "tool" // the model must call the tool named in ToolChoice.Name
)

// ToolChoice constrains tool use.
type ToolChoice struct {
	Mode ToolChoiceMode
	Name string // with ToolNamed
}

// OutputSchema asks for structured output.
type OutputSchema struct {
	// Name identifies the schema (OpenAI requires one); "output" when empty.
	Name string
	// Schema is a JSON Schema for the whole output value.
	Schema json.RawMessage
	// Strict asks the provider to enforce the schema when it can.
	Strict bool
}

// ThinkingConfig enables extended thinking.
type ThinkingConfig struct {
	// BudgetTokens is how many output tokens thinking may use.
	BudgetTokens int
}

// Float returns a pointer to v, for Temperature and TopP.
func Float(v float64) *float64 { return &v }

// Clone returns a copy of r whose slices and maps can be changed without
// touching r. Parts themselves are values and are shared safely.
func (r *Request) Clone() *Request {
	c := *r
	c.System = slices.Clone(r.System)
	c.Messages = slices.Clone(r.Messages)
	for i := range c.Messages {
		c.Messages[i].Parts = slices.Clone(c.Messages[i].Parts)
	}
	c.Tools = slices.Clone(r.Tools)
	c.StopSequences = slices.Clone(r.StopSequences)
	c.Tags = maps.Clone(r.Tags)
	return &c
}
