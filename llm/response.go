package llm

import "time"

// StopReason says why the model stopped, normalised across providers.
type StopReason string

// Normalised stop reasons.
const (
	StopEndTurn   StopReason = "end_turn"      // the model finished its answer
	StopMaxTokens StopReason = "max_tokens"    // the output limit was reached
	StopToolUse   StopReason = "tool_use"      // the model is waiting for tool results
	StopSequence  StopReason = "stop_sequence" // a stop sequence was produced
	StopRefusal   StopReason = "refusal"       // the model or a provider filter refused
	StopPauseTurn StopReason = "pause_turn"    // a long server-side turn paused; send it back to continue
	StopUnknown   StopReason = "unknown"       // the provider gave a reason Keel does not know
)

// Response is a model's complete answer.
type Response struct {
	// ID is the provider's id for the response (may be empty for servers
	// that send none).
	ID string
	// Model is the `provider/model` name of the model that answered.
	Model string
	// Content is the assistant's output, in order.
	Content []Part
	// StopReason is why generation stopped; StopSequence is the sequence
	// that matched when StopReason is StopSequence.
	StopReason   StopReason
	StopSequence string
	Usage        Usage
	// Latency is the wall time of the call, up to the last byte.
	Latency time.Duration

	// What the middleware learnt about the call; zero when the model was
	// called without them (middleware.Stack sets all three).

	// Attempts counts the requests sent upstream for this response, over
	// every model tried.
	Attempts int
	// CacheHit is true when the response came from the response cache.
	CacheHit bool
	// Cost is the call's price in US dollars, from the price table; 0 for a
	// cache hit or a model without a price.
	Cost float64
}

// Text returns the concatenation of the response's text parts.
func (r *Response) Text() string { return joinText(r.Content) }

// ToolCalls returns the tool calls the model made, in order.
func (r *Response) ToolCalls() []ToolCall { return toolCalls(r.Content) }

// Message returns the response as an assistant message, ready to append to
// the conversation (thinking and signatures included, so they round-trip).
func (r *Response) Message() Message {
	return Message{Role: RoleAssistant, Parts: r.Content}
}

// Usage counts tokens by class. Each token is counted in exactly one class,
// so that cost is a plain sum of count times price:
//
//   - InputTokens are input tokens read without the prompt cache. They do
//     NOT include cache reads or cache writes. (Anthropic's input_tokens has
//     this meaning already; for OpenAI and Gemini, whose prompt token counts
//     include cached tokens, adapters subtract the cached part.)
//   - CacheReadTokens are input tokens served from the prompt cache.
//   - CacheWriteTokens and CacheWrite1hTokens are input tokens written to the
//     cache with the 5-minute and the 1-hour lifetime.
//   - OutputTokens are generated tokens, thinking included.
type Usage struct {
	InputTokens        int `json:"input_tokens"`
	OutputTokens       int `json:"output_tokens"`
	CacheReadTokens    int `json:"cache_read_tokens,omitempty"`
	CacheWriteTokens   int `json:"cache_write_tokens,omitempty"`
	CacheWrite1hTokens int `json:"cache_write_1h_tokens,omitempty"`
}

// PromptTokens returns every input token, cached or not.
func (u Usage) PromptTokens() int {
	return u.InputTokens + u.CacheReadTokens + u.CacheWriteTokens + u.CacheWrite1hTokens
}

// Add returns the sum of u and o, class by class.
func (u Usage) Add(o Usage) Usage {
	return Usage{
		InputTokens:        u.InputTokens + o.InputTokens,
		OutputTokens:       u.OutputTokens + o.OutputTokens,
		CacheReadTokens:    u.CacheReadTokens + o.CacheReadTokens,
		CacheWriteTokens:   u.CacheWriteTokens + o.CacheWriteTokens,
		CacheWrite1hTokens: u.CacheWrite1hTokens + o.CacheWrite1hTokens,
	}
}
